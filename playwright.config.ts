import { defineConfig } from '@playwright/test';

// End-to-end tests in Debian's Chromium against the production build (`next build` + `next start`),
// one portal on the embedded defaults and one on the real test cluster; global-setup starts both.
export default defineConfig({
  testDir: 'tests/e2e',
  testMatch: '*.spec.ts',
  globalSetup: './tests/e2e/global-setup.ts',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  outputDir: 'test-results/playwright',
  reporter: [['list'], ['json', { outputFile: 'test-results/playwright.json' }]],
  use: {
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
  },
  projects: [
    { name: 'embedded', testMatch: ['embedded.spec.ts', 'renewal.spec.ts'], use: { baseURL: 'http://127.0.0.1:3101' } },
    { name: 'cluster', testMatch: ['cluster.spec.ts', 'api.spec.ts', 'sso.spec.ts', 'usage.spec.ts', 'policies.spec.ts', 'slack.spec.ts', 'budgets.spec.ts'], use: { baseURL: 'http://127.0.0.1:3102' } },
  ],
});
