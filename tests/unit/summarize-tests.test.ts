import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

// The reports' shapes are those vitest's and Playwright's JSON reporters wrote for a real failing
// run (trimmed to the fields the script reads; the error text keeps its colour codes).
const script = path.resolve('scripts/summarize-tests.mjs');
const dirs: string[] = [];

function reports(files: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'summarize-'));
  dirs.push(dir);
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));
  return dir;
}

function summarize(dir: string, failedChecks = 0) {
  const out = spawnSync(process.execPath, [script, dir, String(failedChecks)], { encoding: 'utf8' });
  return { status: out.status, lines: out.stdout.trimEnd().split('\n') };
}

const passing = (name: string, title: string) => ({ name, status: 'passed', message: '', assertionResults: [{ title, fullName: title, status: 'passed', failureMessages: [] }] });

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the CI summary (scripts/summarize-tests.mjs)', () => {
  it('prints only the count line and exits 0 when everything passed', () => {
    const dir = reports({
      'vitest.json': { numPassedTests: 2, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, success: true, testResults: [passing('/repo/tests/unit/a.test.ts', 'works')] },
      'playwright.json': { stats: { expected: 3, unexpected: 0, flaky: 1, skipped: 0 }, suites: [] },
    });
    expect(summarize(dir)).toEqual({ status: 0, lines: ['6 passed, 0 failed'] });
  });

  it('names every failed test, file that did not load and failed step above the count, with the first line of its error', () => {
    const dir = reports({
      'vitest.json': {
        numPassedTests: 1,
        numFailedTests: 1,
        numPendingTests: 0,
        numTodoTests: 0,
        success: false,
        testResults: [
          {
            name: path.resolve('tests/unit/zz-fail.test.ts'),
            status: 'failed',
            message: '',
            assertionResults: [
              { title: 'fails', fullName: 'a group fails', status: 'failed', failureMessages: ['\n\u001b[31mAssertionError: expected { a: 1 } to deeply equal { a: 2 }\u001b[39m\n    at tests/unit/zz-fail.test.ts:4:23'] },
              { title: 'passes', fullName: 'a group passes', status: 'passed', failureMessages: [] },
            ],
          },
          { name: path.resolve('tests/unit/zz-load.test.ts'), status: 'failed', message: "Cannot find module './nope' imported from tests/unit/zz-load.test.ts", assertionResults: [] },
        ],
      },
      'playwright.json': {
        stats: { expected: 1, unexpected: 1, flaky: 0, skipped: 0 },
        suites: [
          {
            title: 'a.spec.ts',
            file: 'a.spec.ts',
            specs: [],
            suites: [{ title: 'outer', file: 'a.spec.ts', specs: [{ title: 'fails on purpose', file: 'a.spec.ts', tests: [{ projectName: 'cluster', status: 'unexpected', results: [{ error: { message: 'Error: the count\n\n\u001b[2mexpect(\u001b[22mreceived)' } }] }] }] }],
          },
        ],
      },
      'failed-checks.txt': 'lint\n',
    });
    const { status, lines } = summarize(dir, 1);
    expect(status).toBe(1);
    expect(lines).toEqual([
      'failed (4):',
      '  step: lint; its output is above',
      '  tests/unit/zz-fail.test.ts › a group fails: AssertionError: expected { a: 1 } to deeply equal { a: 2 }',
      "  tests/unit/zz-load.test.ts: Cannot find module './nope' imported from tests/unit/zz-load.test.ts",
      '  playwright a.spec.ts › outer › fails on purpose [cluster]: Error: the count',
      // the check, the test, the file that did not load, the browser test
      '2 passed, 4 failed',
    ]);
  });

  it('counts a run that failed outside any test (a global setup) as one failure, and says where', () => {
    const dir = reports({ 'vitest-node.json': { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, success: false, testResults: [] } });
    const { status, lines } = summarize(dir);
    expect(status).toBe(1);
    expect(lines.at(-2)).toContain('vitest-node.json: the run failed outside any test');
    expect(lines.at(-1)).toBe('0 passed, 1 failed');
  });

  it('keeps the list short when a whole suite fails', () => {
    const results = Array.from({ length: 40 }, (_, i) => ({ name: path.resolve(`tests/unit/t${i}.test.ts`), status: 'failed', message: '', assertionResults: [{ title: 't', fullName: `t${i}`, status: 'failed', failureMessages: ['Error: down'] }] }));
    const dir = reports({ 'vitest.json': { numPassedTests: 0, numFailedTests: 40, success: false, testResults: results } });
    const { lines } = summarize(dir);
    expect(lines).toHaveLength(1 + 30 + 1 + 1);
    expect(lines.at(-2)).toMatch(/… and 10 more, in the reports under /);
    expect(lines.at(-1)).toBe('0 passed, 40 failed');
  });
});
