/**
 * `npx tsx bench/loop-drain.ts`: how long the loop takes to hand out N requests made ready at
 * once (a start, or a resync of that many waiting keys), with a reconcile that does nothing, so
 * only the work queue is measured: 10,000 and 100,000, median of three runs. With LOOP_BASE
 * (another checkout) its loop is measured side by side in the same run.
 */
import path from 'node:path';
import { checkoutsToCompare } from './checkouts';
import { median } from './stats';

interface Loop {
  start(): void;
  stop(): Promise<void>;
  enqueue(id: string): void;
}
type LoopClass = new (store: unknown, reconcile: (id: string) => Promise<object>, options: object) => Loop;

const empty = { items: [], invalid: [] };
const store = { kind: 'local', listAll: async () => empty, watch: async () => undefined };

async function drain(Loop: LoopClass, n: number): Promise<number> {
  let passed = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (done = resolve));
  const loop = new Loop(store, async () => {
    if (++passed === n) done();
    return {};
  }, { concurrency: 32, resyncMs: 3_600_000, errorBackoff: { initialSeconds: 1, maxSeconds: 10 }, watch: false });
  loop.start();
  const t = performance.now();
  for (let i = 0; i < n; i++) loop.enqueue(`r${i}`);
  await all;
  const ms = performance.now() - t;
  await loop.stop();
  return ms;
}

for (const [name, checkout] of checkoutsToCompare('LOOP_BASE')) {
  const { ApprovalLoop } = (await import(path.join(checkout, 'lib/loop/loop.ts'))) as { ApprovalLoop: LoopClass };
  for (const n of [10_000, 100_000]) {
    const runs: number[] = [];
    for (let r = 0; r < 3; r++) runs.push(await drain(ApprovalLoop, n));
    process.stdout.write(`${name}: ${n.toLocaleString('en')} ready at once handed out in ${median(runs).toFixed(0)} ms [${runs.map((x) => x.toFixed(0)).join(' ')}]\n`);
  }
}
