/**
 * Builds the client SDK as an npm package folder (`@herald/client`), dist/client-package/ by default:
 *
 *   package.json  README.md  LICENSE   copied from shared/client/ (the manifest's paths are this layout's)
 *   lib/client/   lib/protocol/        tsc of shared/client/index.ts and what it imports: ES modules with
 *                                      .d.ts files and source maps, for Node and bundlers
 *   browser/herald-client.js(.map)     the minified browser bundle, by scripts/build-client.mjs
 *
 *   node scripts/build-client-package.mjs [--out DIR] [--pack [DEST]]
 *
 * `--pack` then runs `npm pack` in the folder and leaves the tarball in DEST (default dist/); the last
 * line printed is the tarball's path. `npm run pack:client -- DEST` does both.
 *
 * Why a folder of its own rather than packing shared/client: the SDK imports a few modules of
 * shared/protocol (frames, close codes, event payloads), which must ship inside the package, compiled;
 * the TypeScript sources, the tests and the rest of the repository must not. Like the browser bundle,
 * the build refuses any module from outside shared/client and shared/protocol.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'shared/client');

const args = process.argv.slice(2);
/** The value after `flag`; `fallback` when the flag has none; undefined without the flag. */
/** @type {(flag: string, fallback: string) => string | undefined} */
const valueOf = (flag, fallback) => {
  const at = args.indexOf(flag);
  if (at === -1) return undefined;
  const value = args[at + 1];
  return value === undefined || value.startsWith('--') ? fallback : value;
};
const out = path.resolve(valueOf('--out', '') || path.join(root, 'dist/client-package'));
const packTo = args.includes('--pack') ? path.resolve(valueOf('--pack', path.join(root, 'dist'))) : undefined;

/** @param {string} message @returns {never} */
function fail(message) {
  process.stderr.write(`build-client-package: ${message}\n`);
  process.exit(1);
}

/** Compiles the SDK's modules into out/lib with the repository's compiler options. */
function compile() {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(root, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    },
  );
  if (parsed === undefined) fail('cannot read tsconfig.json');
  const options = {
    ...parsed.options,
    noEmit: false,
    declaration: true,
    declarationMap: false,
    sourceMap: true,
    inlineSources: true,
    // The same language level as the browser bundle: what bundlers and browsers of the package get.
    target: ts.ScriptTarget.ES2020,
    rootDir: path.join(root, 'shared'),
    outDir: path.join(out, 'lib'),
  };
  const program = ts.createProgram([path.join(source, 'index.ts')], options);
  const foreign = program
    .getSourceFiles()
    .filter((file) => !file.isDeclarationFile)
    .map((file) => path.relative(root, file.fileName))
    .filter((file) => !file.startsWith('shared/client/') && !file.startsWith('shared/protocol/'));
  if (foreign.length > 0) fail(`the package must not include ${foreign.join(', ')}`);
  const emitted = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (diagnostics.length > 0) {
    /** @type {ts.FormatDiagnosticsHost} */
    const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
    fail(`tsc failed:\n${ts.formatDiagnostics(diagnostics, host)}`);
  }
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
compile();
await run(process.execPath, [
  path.join(root, 'scripts/build-client.mjs'),
  path.join(out, 'browser/herald-client.js'),
]);
for (const file of ['package.json', 'README.md', 'LICENSE'])
  copyFileSync(path.join(source, file), path.join(out, file));
process.stdout.write(`build-client-package: ${path.relative(process.cwd(), out) || '.'}\n`);

if (packTo !== undefined) {
  mkdirSync(packTo, { recursive: true });
  // npm's own cache and logs stay where they are; the package has no scripts for pack to run.
  const { stdout } = await run('npm', ['pack', '--pack-destination', packTo], { cwd: out });
  // npm pack prints the tarball's file name last.
  const tarball = stdout.trim().split('\n').at(-1) ?? '';
  if (!tarball.endsWith('.tgz')) fail(`npm pack gave no tarball: ${stdout}`);
  process.stdout.write(`${path.join(packTo, tarball)}\n`);
}
