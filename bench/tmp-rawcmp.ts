import { clusterUp, freshNamespace } from './cluster';
import { apiServerCreates } from './apiserver-alone';
import { pool } from './portal/clients';
import { summarize } from './stats';
import { newRequestId, rfc3339 } from '@/lib/domain/key-request';
import { rawCall } from '@/lib/kube/raw';
import { withKeepAlive } from '@/lib/kube/keep-alive';
import { encodeNewRequest } from '@/lib/store/secret-codec';

const { kc } = clusterUp();
withKeepAlive(kc);
const ns = await freshNamespace(kc, 'rawcmp');
const n = Number(process.env.N ?? 2000);
const W = Number(process.env.W ?? 50);
for (let round = 0; round < 2; round++) {
  let c = process.cpuUsage();
  const lean = await apiServerCreates(kc, ns, n, W, `lean${round}`);
  let cpu = process.cpuUsage(c);
  console.log(`lean: ${lean.perSecond.toFixed(0)}/s p50 ${lean.latency.p50.toFixed(1)} p99 ${lean.latency.p99.toFixed(1)} client cpu/call ${((cpu.user + cpu.system) / 1000 / n).toFixed(3)} ms`);
  const bodies = Array.from({ length: n }, (_, i) => encodeNewRequest({ id: newRequestId(), email: `raw${round}-${i}@bench.example.com`, model: 'gpt-4o', createdAt: rfc3339(new Date()) }));
  c = process.cpuUsage();
  const t0 = performance.now();
  const ms = await pool(bodies, W, async (body) => {
    const t = performance.now();
    await rawCall(kc, { method: 'POST', path: `/api/v1/namespaces/${ns}/secrets`, body });
    return performance.now() - t;
  });
  const wall = (performance.now() - t0) / 1000;
  cpu = process.cpuUsage(c);
  const l = summarize(ms);
  console.log(`raw:  ${(n / wall).toFixed(0)}/s p50 ${l.p50.toFixed(1)} p99 ${l.p99.toFixed(1)} client cpu/call ${((cpu.user + cpu.system) / 1000 / n).toFixed(3)} ms`);
}
process.exit(0);
