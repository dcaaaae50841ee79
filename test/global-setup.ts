/** Builds the compiled service once before any test spawns it as a process (e2e, cluster tests). */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    cwd: new URL('..', import.meta.url).pathname,
    stdio: 'inherit',
  });
}
