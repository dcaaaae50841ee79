import { describe, expect, it } from 'vitest';
import { configTables, generatedFiles, SECTIONS, withSection } from '../../../scripts/docs.js';
import { ENV_SCHEMA } from '../../../shared/config/schema.js';

const configSection = SECTIONS.find((s) => s.name === 'config')!;

describe('generated docs (npm run docs)', () => {
  it('when the docs are checked, then every generated section matches its source (else run npm run docs)', async () => {
    for (const { file, now, wanted } of await generatedFiles()) expect(now, file).toBe(wanted);
  });

  it('when the README config tables are rendered, then every variable of the schema has exactly one row', () => {
    const names = [...configTables().matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(names.sort()).toEqual(Object.keys(ENV_SCHEMA.properties).sort());
  });

  it('when a generated section was edited by hand, then regenerating it restores the rendered text', async () => {
    const [readme] = (await generatedFiles()).filter((f) => f.file === 'README.md');
    const edited = readme!.now.replace('| `PORT`', '| `PORT_TYPO`');
    expect(edited).not.toBe(readme!.now);
    expect(await withSection(edited, configSection)).toBe(readme!.wanted);
  });

  it('when the markers of a section are missing, then regenerating names the file and the section', async () => {
    await expect(withSection('# no markers here\n', configSection)).rejects.toThrow(
      /README\.md: markers of the generated section "config" are missing/,
    );
  });
});
