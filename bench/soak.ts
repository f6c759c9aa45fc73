/**
 * `npm run bench:soak` (bench/soak.ts): does the portal keep anything per request, or per second, after the
 * request is gone? It runs SOAK_CYCLES (12) cycles of a steady life: SOAK_N (300) requests at 20
 * a second to issued and emailed, then every request deleted as an admin would (`kubectl delete`):
 * the keys revoked at the gateway, the audit records shipped, the Secrets gone. A heap snapshot
 * (the web server's, with its loop; --heapsnapshot-signal) after cycle 2 and after the last, then
 * the objects each holds, by constructor: what grows with the cycles is kept by something.
 * SOAK_CHECKOUT: a built checkout (default this one).
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { withKeepAlive } from '@/lib/kube/keep-alive';
import { clusterUp, freshNamespace } from './cluster';
import { startStandIns } from './stand-ins';
import { pacedToIssued } from './portal/scenarios';
import { rssBytes, startPortal, stopPortal } from './portal/server';
import { heapCounts } from './heap-counts';

const checkout = path.resolve(process.env.SOAK_CHECKOUT ?? path.join(import.meta.dirname, '..'));
const cycles = Number(process.env.SOAK_CYCLES ?? 12);
const perCycle = Number(process.env.SOAK_N ?? 300);
const say = (s: string) => process.stderr.write(`soak: ${s}\n`);
const SELECTOR = 'app.kubernetes.io/component=key-request';

/** Asks the process for a heap snapshot and waits until the file is whole (its size stops changing). */
async function snapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = performance.now() + 120_000;
  let last = -1;
  while (performance.now() < deadline) {
    await sleep(1000);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    const size = statSync(path.join(dir, file)).size;
    if (size > 0 && size === last) return path.join(dir, file);
    last = size;
  }
  throw new Error('no heap snapshot within 120 s');
}

async function main(): Promise<void> {
  const { kubeconfig, kc } = clusterUp();
  const api = withKeepAlive(kc).makeApiClient(CoreV1Api);
  const work = mkdtempSync(path.join(tmpdir(), 'keyportal-soak-'));
  const { gateway, smtp, stop: stopStandIns } = await startStandIns();
  const namespace = await freshNamespace(kc, 'soak');
  const portal = await startPortal({ checkout, name: 'soak', port: 3398, namespace, kubeconfig, gatewayUrl: gateway.url, smtp: smtp.address, workDir: work, loop: true, nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${work}`] });
  const pid = portal.child.pid as number;
  const shots: string[] = [];
  try {
    for (let cycle = 1; cycle <= cycles; cycle++) {
      const t0 = performance.now();
      const wait = await pacedToIssued(portal, kc, namespace, `soak${cycle}`, perCycle, 20);
      await api.deleteCollectionNamespacedSecret({ namespace, labelSelector: SELECTOR });
      // Gone once the loop revoked each key and the audit trail shipped each request's records.
      const deadline = performance.now() + 180_000;
      let left = Number.POSITIVE_INFINITY;
      while (left > 0 && performance.now() < deadline) {
        left = (await api.listNamespacedSecret({ namespace, labelSelector: SELECTOR })).items.length;
        if (left > 0) await sleep(1000);
      }
      say(`cycle ${cycle}: ${perCycle} issued (p50 ${wait.p50.toFixed(0)} ms), deleted, ${left} left after ${((performance.now() - t0) / 1000).toFixed(0)} s; RSS ${(rssBytes(portal) / 2 ** 20).toFixed(0)} MiB`);
      if (cycle === 2 || cycle === cycles) shots.push(await snapshot(pid, work));
    }
  } finally {
    await stopPortal(portal);
    await stopStandIns();
  }
  const [a, b] = shots.map((f) => heapCounts(f));
  // A snapshot holds every string the process held, keys included, and is ~100 MB: not left behind.
  rmSync(work, { recursive: true, force: true });
  if (!a || !b) return;
  const rows = [...b].map(([k, v]) => ({ k, n: v.count - (a.get(k)?.count ?? 0), bytes: v.bytes - (a.get(k)?.bytes ?? 0) })).sort((x, y) => y.n - x.n);
  const total = (m: typeof a) => [...m.values()].reduce((s, v) => s + v.bytes, 0);
  say(`heap after cycle 2: ${(total(a) / 2 ** 20).toFixed(1)} MiB; after cycle ${cycles}: ${(total(b) / 2 ** 20).toFixed(1)} MiB; ${(cycles - 2) * perCycle} requests between`);
  for (const r of rows.slice(0, 25)) say(`  ${String(r.n).padStart(8)} objects ${String(r.bytes).padStart(10)} B  ${r.k}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
