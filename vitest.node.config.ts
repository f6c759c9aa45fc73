import path from 'node:path';
import { defineConfig } from 'vitest/config';

// The end-to-end suite on a real node (`npm run test:node`): the chart's pods run from our image
// under kubelet and containerd. Apart from vitest.config.ts because it needs what the plain suites
// do not (containerd, CNI plugins, nftables, root) and a cluster of its own.
export default defineConfig({
  resolve: { alias: { '@': path.resolve(import.meta.dirname) } },
  test: {
    name: 'node',
    include: ['tests/node/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['tests/setup/node-cluster.ts'],
    // One release, installed once, checked step by step: the tests in a file run in order.
    sequence: { concurrent: false },
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 25 * 60_000,
  },
});
