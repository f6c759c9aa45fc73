import { request as httpRequest } from 'node:http';
import { type RequestOptions, request as httpsRequest } from 'node:https';
import { gunzipSync } from 'node:zlib';
import { ApiException, type KubeConfig } from '@kubernetes/client-node';

/** How long one call may go without any traffic from the API server. */
const RAW_TIMEOUT_MS = 60_000;

export interface RawCall {
  method: 'GET' | 'POST' | 'PATCH';
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
  const options: RequestOptions = {};
  // Credentials, TLS and the kept-alive agent (lib/kube/keep-alive.ts), read per call so a
  // rotated token is picked up.
  await kc.applyToHTTPSOptions(options);
  const url = new URL(cluster.server.replace(/\/+$/, '') + call.path);
  for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  const body = call.body === undefined ? undefined : typeof call.body === 'string' ? call.body : JSON.stringify(call.body);
  const headers: Record<string, string | number> = { ...(options.headers as Record<string, string>), accept: 'application/json', 'accept-encoding': 'gzip' };
  if (body !== undefined) {
    headers['content-type'] = call.contentType ?? 'application/json';
    headers['content-length'] = Buffer.byteLength(body);
  }
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const text = await new Promise<{ status: number; text: string; headers: Record<string, string> }>((resolve, reject) => {
    const req = send(url, { ...options, method: call.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        try {
          let data = Buffer.concat(chunks);
          if (res.headers['content-encoding'] === 'gzip') data = gunzipSync(data);
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({ status: res.statusCode ?? 0, text: data.toString('utf8'), headers: h });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('error', reject);
    // A call that hangs (an API server stuck, a connection lost without a reset) must fail and be
    // retried rather than hold a request or the loop for ever; a list page of 500 takes well under this.
    req.setTimeout(RAW_TIMEOUT_MS, () => req.destroy(new Error(`${call.method} ${call.path}: no answer from the API server within ${RAW_TIMEOUT_MS / 1000} s`)));
    req.end(body);
  });
  if (text.status < 200 || text.status > 299) {
    throw new ApiException(text.status, `${call.method} ${call.path}`, text.text, text.headers);
  }
  return JSON.parse(text.text) as T;
}
