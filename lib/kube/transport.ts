import { type Agent, request as httpRequest } from 'node:http';
import { type RequestOptions, request as httpsRequest } from 'node:https';
import { gunzipSync } from 'node:zlib';

export interface BufferedResponse {
  status: number;
  /** One value per header, repeated ones joined with ", ". */
  headers: Record<string, string>;
  /** The body as sent, gunzipped if it came gzipped. */
  body: Buffer;
}

export interface SendOptions extends Pick<RequestOptions, 'method' | 'headers' | 'signal'> {
  agent?: Agent;
  /** TLS and credentials from the KubeConfig (ca, cert, key, …), merged into the request. */
  tls?: RequestOptions;
  /** Fail the call after this long without any traffic from the server. */
  idleTimeoutMs?: number;
}

/**
 * The one way Keyportal talks HTTP to the API server: node:http(s) over the kept-alive agent,
 * gzip asked for, the body read to its 'end' and buffered (objects and 500-item pages, never
 * streams). Reading to 'end' matters: node-fetch 2, which client-node ships, decides a chunked
 * response ended early when its kept-alive socket already carries the next request, and threw
 * bodies that had arrived whole away as "Premature close" (see http-library.ts).
 */
export function sendBuffered(url: URL, options: SendOptions, body?: string | Buffer): Promise<BufferedResponse> {
  const headers: Record<string, string | number> = { ...(options.headers as Record<string, string | number> | undefined), 'accept-encoding': 'gzip' };
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { ...options.tls, method: options.method, headers, agent: options.agent ?? options.tls?.agent, signal: options.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        try {
          const raw = Buffer.concat(chunks);
          const flat: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
          resolve({ status: res.statusCode ?? 0, headers: flat, body: res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('error', reject);
    const idle = options.idleTimeoutMs;
    if (idle !== undefined) req.setTimeout(idle, () => req.destroy(new Error(`${options.method ?? 'GET'} ${url.pathname}: no answer from the API server within ${idle / 1000} s`)));
    req.end(body);
  });
}
