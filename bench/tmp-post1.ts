import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { clusterUp, freshNamespace } from './cluster';
import { startPortal, stopPortal } from './portal/server';
import { call, sessionCookie } from './portal/clients';
import { summarize } from './stats';

const { kubeconfig, kc } = clusterUp();
const work = mkdtempSync(path.join(tmpdir(), 'kp-post1-'));
const namespace = await freshNamespace(kc, 'post1');
const nodeArgs = process.env.PROBE_NODE_ARGS?.split(' ').filter(Boolean);
const portal = await startPortal({ checkout: path.resolve(import.meta.dirname, '..'), name: 'post1', port: 3395, namespace, kubeconfig, gatewayUrl: 'http://127.0.0.1:9', smtp: { host: '127.0.0.1', port: 9 }, workDir: work, loop: false, nodeArgs });
try {
  const n = Number(process.env.N ?? 200);
  const cookies = await Promise.all(Array.from({ length: n + 20 }, (_, i) => sessionCookie(portal, `u${i}@bench.example.com`)));
  for (let i = 0; i < 20; i++) await call(portal, 'POST', '/api/requests', cookies[n + i] as string, { model: 'gpt-4o' });
  for (const [name, fn] of [
    ['GET /api/healthz', (i: number) => call(portal, 'GET', '/api/healthz', cookies[i] as string)],
    ['GET /api/models', (i: number) => call(portal, 'GET', '/api/models', cookies[i] as string)],
    ['GET /api/requests', (i: number) => call(portal, 'GET', '/api/requests', cookies[i] as string)],
    ['POST /api/requests', (i: number) => call(portal, 'POST', '/api/requests', cookies[i] as string, { model: 'gpt-4o' })],
  ] as const) {
    const ms: number[] = [];
    for (let i = 0; i < n; i++) { const r = await fn(i); if (r.status >= 300) throw new Error(`${name} ${r.status} ${r.body.slice(0, 200)}`); ms.push(r.ms); }
    const s = summarize(ms);
    console.log(`${name}: p50 ${s.p50.toFixed(1)} ms p99 ${s.p99.toFixed(1)} ms`);
  }
} finally {
  await stopPortal(portal);
}
process.exit(0);
