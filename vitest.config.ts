import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Integration and e2e tests open real sockets; a few workers keep a 2-core machine responsive.
    maxWorkers: 2,
  },
});
