/**
 * `npm run docs` rewrites every generated section of the docs from its source; `npm run docs -- --check`
 * writes nothing and exits 1 naming each file whose generated section is stale (CI runs it after lint).
 *
 * A generated section sits between two markers in a Markdown file:
 *   <!-- generated:NAME (npm run docs; do not edit by hand) -->
 *   …
 *   <!-- /generated:NAME -->
 * Its text is rendered here and formatted with the repository's prettier settings, so `prettier --check`
 * and this check agree. Sections:
 * - README.md `config`: one table per group of `shared/config/schema.ts`, in its order.
 */
import { readFile, realpath, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import prettier from 'prettier';
import { CONFIG_GROUPS } from '../shared/config/schema.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Section {
  file: string;
  name: string;
  render: () => string;
}

export const SECTIONS: readonly Section[] = [{ file: 'README.md', name: 'config', render: configTables }];

/** The keywords of an option's schema the tables show. */
interface DocSchema {
  type?: string;
  enum?: readonly string[];
  default?: string | number | boolean;
  minimum?: number;
  maximum?: number;
  description?: string;
  docDefault?: string;
}

/** README `config`: variable, meaning, default and accepted values of every option, a table per group. */
export function configTables(): string {
  const cell = (text: string): string => text.replace(/\|/g, '\\|');
  return CONFIG_GROUPS.map(({ title, options }) => {
    const rows = Object.entries(options as Record<string, DocSchema>).map(([name, schema]) => {
      const fallback = schema.default === undefined ? 'unset' : String(schema.default);
      return `| \`${name}\` | ${cell(schema.description ?? '')} | ${cell(schema.docDefault ?? fallback)} | ${cell(accepted(schema))} |`;
    });
    return [
      `### ${title}`,
      '',
      '| variable | meaning | default | accepted |',
      '| --- | --- | --- | --- |',
      ...rows,
    ].join('\n');
  }).join('\n\n');
}

/** What the schema accepts, in a few words (a string's syntax, if it has one, is in its meaning). */
function accepted(schema: DocSchema): string {
  if (schema.type === 'integer') return `${schema.minimum} to ${schema.maximum}`;
  if (schema.type === 'boolean') return 'true, false';
  if (schema.enum !== undefined) return schema.enum.join(', ');
  return '';
}

const START = (name: string): RegExp => new RegExp(`<!-- generated:${name}\\b[^>]*-->\\n`);
const END = (name: string): string => `<!-- /generated:${name} -->`;

/** `text` with the section's body rendered anew between its markers (an error when they are missing). */
export async function withSection(text: string, section: Section): Promise<string> {
  const start = START(section.name).exec(text);
  const end = text.indexOf(END(section.name));
  if (start === null || end < start.index)
    throw new Error(
      `${section.file}: markers of the generated section "${section.name}" are missing (<!-- generated:${section.name} … --> then ${END(section.name)})`,
    );
  const options = { ...(await prettier.resolveConfig(join(ROOT, section.file))), parser: 'markdown' };
  const body = await prettier.format(section.render(), options);
  const from = start.index + start[0].length;
  return `${text.slice(0, from)}\n${body}\n${text.slice(end)}`;
}

/** Each file with generated sections: its text now, and what it should be. */
export async function generatedFiles(root = ROOT): Promise<{ file: string; now: string; wanted: string }[]> {
  const files = [...new Set(SECTIONS.map((s) => s.file))];
  return Promise.all(
    files.map(async (file) => {
      const now = await readFile(join(root, file), 'utf8');
      let wanted = now;
      for (const section of SECTIONS.filter((s) => s.file === file))
        wanted = await withSection(wanted, section);
      return { file, now, wanted };
    }),
  );
}

async function main(check: boolean): Promise<void> {
  const files = await generatedFiles();
  const stale = files.filter(({ now, wanted }) => now !== wanted);
  if (check) {
    for (const { file } of stale) {
      const names = SECTIONS.filter((s) => s.file === file).map((s) => s.name);
      console.error(
        `docs: ${file} is stale: its generated section (${names.join(', ')}) differs from its source; run \`npm run docs\` and commit the result`,
      );
    }
    if (stale.length > 0) process.exit(1);
    console.log(`docs: ${files.map((f) => f.file).join(', ')} current`);
    return;
  }
  for (const { file, wanted } of stale) await writeFile(join(ROOT, file), wanted);
  console.log(
    stale.length === 0
      ? 'docs: nothing to regenerate'
      : `docs: rewrote ${stale.map((f) => f.file).join(', ')}`,
  );
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(await realpath(entry)).href) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(`docs: unknown argument ${unknown.join(' ')} (usage: npm run docs [-- --check])`);
    process.exit(2);
  }
  await main(args.includes('--check'));
}
