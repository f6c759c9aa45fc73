/**
 * Where a burst of POSTs' CPU goes, by where the approval loop runs: off, in the web server, or
 * in a worker process (the chart's worker.enabled). Each variant on a fresh namespace: 20 POSTs
 * to warm up, then 500 POSTs 50 at a time with each process's CPU from /proc (web server, worker,
 * kube-apiserver), then, with a loop, what it costs to finish those requests afterwards.
 *
 *   npx tsx bench/post-cpu-split.ts                       # off, in, worker, twice, alternating
 *   SPLIT_VARIANTS=worker,worker-nice,worker,worker-nice npx tsx bench/post-cpu-split.ts
 *
 * `worker-nice` runs the worker at nice 3, about half the web server's CPU weight, as the chart's
 * requests (50m and 100m) weigh the two pods when they share a node.
 */
import { mkdtempSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import path from 'node:path';
import { clusterUp, freshNamespace } from './cluster';
import { startStandIns } from './stand-ins';
import { drained, postLoad } from './portal/scenarios';
import { startPortal, stopPortal } from './portal/server';
import { clusterPids, cpuPerRequest, readCpu } from './proc-cpu';

const checkout = path.resolve(import.meta.dirname, '..');
const variants = (process.env.SPLIT_VARIANTS ?? 'off,in,worker,off,in,worker').split(',');

const cluster = clusterUp();
const work = mkdtempSync(path.join(tmpdir(), 'keyportal-split-'));
try {
  for (const [i, v] of variants.entries()) {
    const { gateway, smtp, stop: stopStandIns } = await startStandIns();
    const namespace = await freshNamespace(cluster.kc, `split-${v}`);
    const portal = await startPortal({ checkout, name: `split-${i}`, port: 3400 + i, namespace, kubeconfig: cluster.kubeconfig, gatewayUrl: gateway.url, smtp: smtp.address, workDir: work, loop: v !== 'off', worker: v.startsWith('worker') });
    if (portal.worker?.pid && v === 'worker-nice') setPriority(portal.worker.pid, 3);
    try {
      await postLoad(portal, `warm-${i}`, 20, 10);
      if (v !== 'off') await drained(cluster.kc, namespace, 60_000);
      const pids = { web: portal.child.pid, worker: portal.worker?.pid, 'kube-apiserver': clusterPids().apiserver };
      const before = readCpu(pids);
      const post = await postLoad(portal, `post-${i}`, 500, 50);
      const during = cpuPerRequest(before, readCpu(pids), 500);
      let after = '';
      if (v !== 'off') {
        const drainStart = readCpu(pids);
        await drained(cluster.kc, namespace, 120_000);
        after = `; then to the end of their lives ${JSON.stringify(cpuPerRequest(drainStart, readCpu(pids), 500))}`;
      }
      console.log(`loop ${v}: ${post.perSecond.toFixed(0)} POSTs/s, p50 ${post.latency.p50.toFixed(0)} ms, p99 on open connections ${post.openConnections?.p99.toFixed(0) ?? '-'} ms; CPU ms a POST during the burst ${JSON.stringify(during)}${after}`);
    } finally {
      await stopPortal(portal);
      await stopStandIns();
    }
  }
} finally {
  cluster.stop();
}
