// Adds up the JSON reports in a folder (vitest's and Playwright's) and prints `N passed, N
// failed` as the last line. Checks that have no report (type check, lint, a runner that died
// before writing one) come in as a count of failed checks, so a red step never prints green.
// Above that line it names each failed test with the first line of its error: a CI log is often
// read from its tail only, and the runners' own reports of a failure scroll far up.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const [dir = 'test-results', failedChecks = '0'] = process.argv.slice(2);
let passed = 0;
let failed = Number(failedChecks) || 0;
let skipped = 0;
/** "file › title: first line of the error", one per failed test or suite. */
const failures = [];
const firstLine = (text) => String(text ?? '').replace(/\x1b\[[0-9;]*m/g, '').split('\n').find((l) => l.trim()) ?? '';
const short = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
const where = (file) => path.relative(process.cwd(), file ?? '');

// One report per vitest run: vitest.json (unit and integration), vitest-node.json (the node suite).
for (const name of readdirSync(dir).filter((f) => /^vitest.*\.json$/.test(f)).sort()) {
  const r = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
  passed += r.numPassedTests ?? 0;
  failed += r.numFailedTests ?? 0;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A file that failed to load fails no single test: it counts as one.
  let unloaded = 0;
  for (const file of r.testResults ?? []) {
    const tests = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of tests) failures.push(`${where(file.name)} › ${a.fullName ?? a.title}: ${firstLine(a.failureMessages?.[0])}`);
    if (!tests.length && file.status === 'failed') {
      unloaded++;
      failures.push(`${where(file.name)}: ${firstLine(file.message)}`);
    }
  }
  failed += unloaded;
  // A failed global setup fails no file either.
  if (r.success === false && !r.numFailedTests && !unloaded) {
    failed += 1;
    failures.push(`${name}: the run failed outside any test (global setup?); its output is above`);
  }
}
const playwright = path.join(dir, 'playwright.json');
if (existsSync(playwright)) {
  const report = JSON.parse(readFileSync(playwright, 'utf8'));
  const s = report.stats ?? {};
  passed += (s.expected ?? 0) + (s.flaky ?? 0);
  failed += s.unexpected ?? 0;
  skipped += s.skipped ?? 0;
  // Suites nest: the file's, then each describe's; a spec's name is the describes' titles and its own.
  const walk = (suite, file, titles) => {
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests ?? []) {
        if (t.status !== 'unexpected') continue;
        const last = t.results?.at(-1);
        const error = firstLine(last?.error?.message ?? last?.errors?.[0]?.message);
        failures.push(`playwright ${spec.file ?? file} › ${[...titles, spec.title].join(' › ')} [${t.projectName}]: ${error}`);
      }
    }
    for (const child of suite.suites ?? []) walk(child, file, [...titles, child.title]);
  };
  for (const suite of report.suites ?? []) walk(suite, suite.file, []);
}
// The steps with no report of their own that failed (scripts/test.sh writes their names).
const checks = path.join(dir, 'failed-checks.txt');
if (existsSync(checks)) for (const step of readFileSync(checks, 'utf8').split('\n').filter(Boolean)) failures.unshift(`step: ${step}; its output is above`);
if (failures.length) {
  console.log(`failed (${failures.length}):`);
  for (const f of failures.slice(0, 30)) console.log(`  ${short(f, 400)}`);
  if (failures.length > 30) console.log(`  … and ${failures.length - 30} more, in the reports under ${dir}/`);
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
