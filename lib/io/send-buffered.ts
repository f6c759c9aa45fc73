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
  /** TLS and credentials (a KubeConfig's ca, cert, key, …), merged into the request. */
  tls?: RequestOptions;
  /** Fail the call after this long without any traffic from the server. */
  idleTimeoutMs?: number;
  /** Who answers, for the idle timeout's message ("the API server"). */
  peer?: string;
}

/** The server's answer began (status and headers came) and then broke off before its end. */
export class BrokenOffError extends Error {
  override name = 'BrokenOffError';
  constructor(what: string, options: { cause: unknown }) {
    super(`${what}: the answer broke off (${options.cause instanceof Error ? options.cause.message : String(options.cause)})`, options);
  }
}

/** How many times a read is sent again after the kept-alive connection it went out on was found closed. */
const STALE_RETRIES = 2;
const IDEMPOTENT = new Set(['GET', 'HEAD']);

/**
 * A read that went out on a kept-alive connection the server was closing (a restart, an idle
 * limit of its own) and got no answer: it goes again, on another connection. Node documents the
 * check (`request.reusedSocket`). Only reads go again: a write might have been applied before
 * the connection died, and its caller decides what a retry means.
 */
class StaleConnectionError extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

/**
 * The one way Keyportal talks HTTP to the servers it depends on (the API server, the gateway):
 * node:http(s) over a kept-alive agent, gzip asked for, the body read to its 'end' and buffered
 * (JSON objects and 500-item pages, never streams).
 *
 * Not fetch: on Node 20 a fetch costs about twice the CPU of this (its WHATWG streams and the
 * wasm parser; measured in docs/BENCHMARKS.md, issue 23's tenth sitting). And reading to 'end'
 * matters: node-fetch 2, which client-node ships, decides a chunked response ended early when its
 * kept-alive socket already carries the next request, and threw bodies that had arrived whole
 * away as "Premature close" (see lib/kube/http-library.ts). A read that meets a kept-alive
 * connection as the server closes it is sent again (StaleConnectionError).
 */
export async function sendBuffered(url: URL, options: SendOptions, body?: string | Buffer): Promise<BufferedResponse> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await sendOnce(url, options, body);
    } catch (err) {
      if (!(err instanceof StaleConnectionError) || attempt >= STALE_RETRIES + 1) throw err instanceof StaleConnectionError ? err.cause : err;
    }
  }
}

function sendOnce(url: URL, options: SendOptions, body?: string | Buffer): Promise<BufferedResponse> {
  const headers: Record<string, string | number> = { ...(options.headers as Record<string, string | number> | undefined), 'accept-encoding': 'gzip' };
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const what = `${options.method ?? 'GET'} ${url.pathname}`;
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = send(url, { ...options.tls, method: options.method, headers, agent: options.agent ?? options.tls?.agent, signal: options.signal }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      // An abort the caller asked for stays what it was.
      const brokeOff = (err: unknown) => reject(options.signal?.aborted ? err : new BrokenOffError(what, { cause: err }));
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', brokeOff);
      // A socket closed before the body's end: 'end' never comes (and not every Node says 'error').
      res.on('close', () => res.complete || brokeOff(new Error('the connection closed before the end of the body')));
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
    req.on('error', (err: NodeJS.ErrnoException) => {
      const stale = req.reusedSocket && !answered && !options.signal?.aborted && IDEMPOTENT.has(options.method ?? 'GET') && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
      reject(stale ? new StaleConnectionError(err) : err);
    });
    const idle = options.idleTimeoutMs;
    if (idle !== undefined) req.setTimeout(idle, () => req.destroy(new Error(`${what}: no answer from ${options.peer ?? 'the server'} within ${idle / 1000} s`)));
    req.end(body);
  });
}
