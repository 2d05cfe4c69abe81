import { defineConfig } from 'vitest/config';

// `make image-check`: inspects the image `make image` wrote (partition table, file systems, files).
export default defineConfig({
  test: {
    include: ['test/image/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
