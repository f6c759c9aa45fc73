import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { newRequestId, rfc3339 } from '@/lib/domain/key-request';
import { encodeNewRequest } from '@/lib/store/secret-codec';
import { type Summary, summarize } from './stats';

export interface CeilingFigures {
  perSecond: number;
  latency: Summary;
  failures: number;
}

/**
 * The API server's own ceiling for what a POST /api/requests costs it: `count` request Secrets
 * (the same bodies the portal writes) created `width` at a time by the leanest client we can
 * write: node's https with a kept-alive agent of `width` sockets, the bodies serialized before
 * the clock starts, nothing per call but the request and reading its answer. The portal's figures
 * are reported as ratios to this, measured in the same run.
 */
export async function apiServerCreates(kc: KubeConfig, namespace: string, count: number, width: number, tag: string): Promise<CeilingFigures> {
  const server = new URL(kc.getCurrentCluster()?.server as string);
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const agent = new https.Agent({ keepAlive: true, maxSockets: width, ca: options.ca, cert: options.cert, key: options.key });
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  const auth = (options.headers as Record<string, string> | undefined)?.Authorization;
  if (auth) headers.authorization = auth;
  const bodies = Array.from({ length: count }, (_, i) => JSON.stringify(encodeNewRequest({ id: newRequestId(), email: `${tag}-${i}@bench.example.com`, model: 'gpt-4o', createdAt: rfc3339(new Date()) })));
  const send = (body: string) =>
    new Promise<number>((resolve) => {
      const req = https.request({ host: server.hostname, port: server.port, path: `/api/v1/namespaces/${namespace}/secrets`, method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', () => resolve(0));
      req.end(body);
    });
  // Warm the sockets so a handshake is not timed.
  await Promise.all(Array.from({ length: width }, () => send(bodies.pop() as string)));
  const ms: number[] = [];
  let failures = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++] as string;
        const t = performance.now();
        const status = await send(body);
        if (status === 201) ms.push(performance.now() - t);
        else failures++;
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  agent.destroy();
  return { perSecond: ms.length / wall, latency: summarize(ms), failures };
}
