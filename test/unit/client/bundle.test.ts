import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as Sdk from '../../../shared/client/index.js';
import { fakeSockets } from './fake-socket.js';

const root = new URL('../../..', import.meta.url).pathname;
let dir: string;
let outfile: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'herald-bundle-'));
  outfile = path.join(dir, 'herald-client.js');
  // The very script `npm run build` runs, writing into a temp dir instead of dist/.
  await promisify(execFile)(process.execPath, ['scripts/build-client.mjs', outfile], { cwd: root });
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('browser bundle of the client SDK', () => {
  it('when built, then it is one minified ES module with a source map', () => {
    const code = readFileSync(outfile, 'utf8');
    expect(existsSync(`${outfile}.map`)).toBe(true);
    expect(code).toMatch(/export\s*\{/);
    expect(code.split('\n').length).toBeLessThan(5); // minified
    expect(code.length).toBeLessThan(40_000);
  });

  it('when built, then it loads nothing: no require, no import of node: or any other module', () => {
    const code = readFileSync(outfile, 'utf8');
    expect(code).not.toContain('require(');
    expect(code).not.toMatch(/["']node:/);
    expect(code).not.toMatch(/\bimport\s*[("'{*]/);
    expect(code).not.toMatch(/\bfrom\s*["']/);
    const map = JSON.parse(readFileSync(`${outfile}.map`, 'utf8')) as { sources: string[] };
    for (const source of map.sources) expect(source).toMatch(/shared\/(client|protocol)\//);
  });

  it('when imported, then it exports a working HeraldClient', async () => {
    const sdk = (await import(pathToFileURL(outfile).href)) as typeof Sdk;
    const fake = fakeSockets();
    const client = new sdk.HeraldClient({ url: 'ws://x.test/ws', token: 't', WebSocket: fake.WebSocket });
    client.subscribe('user:1');
    client.connect();
    fake.latest().welcome();
    expect(client.state).toBe('connected');
    expect(fake.latest().last('subscribe')).toMatchObject({ channel: 'user:1' });
    client.close();
  });
});
