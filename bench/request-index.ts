/**
 * `npx tsx bench/request-index.ts`: what one person's listing costs the in-memory request index
 * (lib/store/request-index.ts) as the store grows: alone, and right after a creation (as the POST
 * and the loop's decision each ask for it), at 3,000, 20,000 and 100,000 stored requests, median
 * of five runs of 200 calls. With INDEX_BASE (another checkout, e.g. a clone of an earlier commit)
 * its index is measured side by side in the same run.
 */
import path from 'node:path';
import { newRequestId, rfc3339 } from '@/lib/domain/key-request';
import type { KeyRequest } from '@/lib/domain/key-request';
import { checkoutsToCompare } from './checkouts';
import { median } from './stats';

interface Index {
  put(r: KeyRequest): void;
  list(filter: { email?: string }): unknown;
}

const SIZES = [3_000, 20_000, 100_000];
const CALLS = 200;
const t0 = Date.parse('2025-01-01T00:00:00Z');
const request = (i: number): KeyRequest => ({ id: newRequestId(), email: `user${i % 20_000}@example.com`, model: 'gpt-4o', state: 'denied', createdAt: rfc3339(new Date(t0 + i * 1000)), hasKey: false, resourceVersion: String(i + 1) });

async function indexOf(checkout: string): Promise<new () => Index> {
  const mod = (await import(path.join(checkout, 'lib/store/request-index.ts'))) as { RequestIndex: new () => Index };
  return mod.RequestIndex;
}

function measure(Index: new () => Index, size: number): { alone: number; afterCreate: number } {
  const alone: number[] = [];
  const afterCreate: number[] = [];
  for (let run = 0; run < 5; run++) {
    const index = new Index();
    for (let i = 0; i < size; i++) index.put(request(i));
    index.list({ email: 'user1@example.com' });
    let t = performance.now();
    for (let i = 0; i < CALLS; i++) index.list({ email: `user${i}@example.com` });
    alone.push(((performance.now() - t) * 1000) / CALLS);
    t = performance.now();
    for (let i = 0; i < CALLS; i++) {
      index.put(request(size + run * CALLS + i));
      index.list({ email: `user${i}@example.com` });
    }
    afterCreate.push(((performance.now() - t) * 1000) / CALLS);
  }
  return { alone: median(alone), afterCreate: median(afterCreate) };
}

for (const [name, checkout] of checkoutsToCompare('INDEX_BASE')) {
  const Index = await indexOf(checkout);
  for (const size of SIZES) {
    const f = measure(Index, size);
    process.stdout.write(`${name}, ${size.toLocaleString('en')} stored: one person's listing ${f.alone.toFixed(1)} µs alone, ${f.afterCreate.toFixed(1)} µs after a creation\n`);
  }
}
