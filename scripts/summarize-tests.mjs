// Adds up the JSON reports in a folder (vitest's and Playwright's) and prints `N passed, N
// failed` as the last line. Checks that have no report (type check, lint, a runner that died
// before writing one) come in as a count of failed checks, so a red step never prints green.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const [dir = 'test-results', failedChecks = '0'] = process.argv.slice(2);
let passed = 0;
let failed = Number(failedChecks) || 0;
let skipped = 0;

// One report per vitest run: vitest.json (unit and integration), vitest-node.json (the node suite).
for (const name of readdirSync(dir).filter((f) => /^vitest.*\.json$/.test(f)).sort()) {
  const r = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
  passed += r.numPassedTests ?? 0;
  failed += r.numFailedTests ?? 0;
  // A suite that failed to load (or a failed global setup) fails no single test.
  if (r.success === false && !r.numFailedTests) failed += Math.max(1, r.numFailedTestSuites ?? 0);
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
const playwright = path.join(dir, 'playwright.json');
if (existsSync(playwright)) {
  const s = JSON.parse(readFileSync(playwright, 'utf8')).stats ?? {};
  passed += (s.expected ?? 0) + (s.flaky ?? 0);
  failed += s.unexpected ?? 0;
  skipped += s.skipped ?? 0;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
