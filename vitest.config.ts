import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The built image is checked by `make image-check` (vitest.image.config.ts) after `make image`.
    exclude: ['test/image/**', '**/node_modules/**'],
    // Integration tests share the host's network namespaces and real client binaries;
    // running files one at a time keeps them from racing for names and ports.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
