import type { RequestOptions } from 'node:https';
import { ApiException, type KubeConfig } from '@kubernetes/client-node';
import { sendBuffered } from '../io/send-buffered';
import { connectionOptions } from './connection-options';

/** How long one call may go without any traffic from the API server. */
const RAW_TIMEOUT_MS = 60_000;

export interface RawCall {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** The API path, e.g. `/api/v1/namespaces/x/secrets`. */
  path: string;
  query?: Record<string, string | number | undefined>;
  /** Sent as JSON (already a string: sent as it is). */
  body?: unknown;
  contentType?: string;
}

/**
 * One Kubernetes API call as plain JSON over the KubeConfig's kept-alive agent.
 *
 * Why not the generated client: its ObjectSerializer walks every field of every object both ways
 * (request and response) against the OpenAPI types, turning timestamps into Dates; on the store's
 * hot paths (a list page of 500 Secrets, every write, every Event) that was a few percent of the
 * portal's CPU and a copy of each object the GC then had to collect. The store validates what it
 * reads with zod anyway (decodeRequest), so it takes the JSON as the API server wrote it.
 *
 * Failures throw client-node's ApiException (numeric `.code`, the Status as `.body` text), as the
 * generated client does, so callers translate errors one way.
 */
export async function rawCall<T>(kc: KubeConfig, call: RawCall): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig names no current cluster');
  // TLS and the kept-alive agent (lib/kube/keep-alive.ts), and the credentials of this moment.
  const options: RequestOptions = await connectionOptions(kc);
  const url = new URL(cluster.server.replace(/\/+$/, '') + call.path);
  for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  const body = call.body === undefined ? undefined : typeof call.body === 'string' ? call.body : JSON.stringify(call.body);
  const headers: Record<string, string | number> = { ...(options.headers as Record<string, string>), accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = call.contentType ?? 'application/json';
  // A call that hangs (an API server stuck, a connection lost without a reset) must fail and be
  // retried rather than hold a request or the loop for ever; a list page of 500 takes well under this.
  const res = await sendBuffered(url, { method: call.method, headers, tls: options, idleTimeoutMs: RAW_TIMEOUT_MS, peer: 'the API server' }, body);
  const text = res.body.toString('utf8');
  if (res.status < 200 || res.status > 299) throw new ApiException(res.status, `${call.method} ${call.path}`, text, res.headers);
  return JSON.parse(text) as T;
}
