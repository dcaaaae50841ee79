/**
 * Bundles the client SDK (shared/client/index.ts) for browsers: one minified ES module with its source
 * map, dist/client/herald-client.js by default, or the file given as the first argument.
 *
 * Why a separate step from `tsc`: tsc emits one file per module with Node-style `.js` paths, which a
 * browser cannot load as one script tag, and does not minify. `platform: 'browser'` makes any import
 * of a Node built-in fail the build; the check below also refuses anything bundled from outside
 * shared/client and shared/protocol, so a server module cannot slip into the browser bundle.
 */
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outfile = path.resolve(process.argv[2] ?? path.join(root, 'dist/client/herald-client.js'));

const result = await build({
  absWorkingDir: root,
  entryPoints: ['shared/client/index.ts'],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const foreign = Object.keys(result.metafile.inputs).filter(
  (input) => !input.startsWith('shared/client/') && !input.startsWith('shared/protocol/'),
);
if (foreign.length > 0) {
  process.stderr.write(`build-client: the browser bundle must not include ${foreign.join(', ')}\n`);
  process.exit(1);
}
const bytes = result.metafile.outputs[path.relative(root, outfile)]?.bytes;
process.stdout.write(`build-client: ${path.relative(process.cwd(), outfile)} (${bytes ?? '?'} bytes)\n`);
