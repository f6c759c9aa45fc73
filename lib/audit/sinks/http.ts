import { signatureHeader, SIGNATURE_HEADER } from '../../crypto/signature';
import { type Deadline, deadline } from '../../io/deadline';
import type { CloudEvent } from '../cloudevent';
import { type AuditSink, AuditSinkError } from '../sink';

export interface HttpSinkOptions {
  /** audit.http.url. Credentials in it (`https://user:pass@host/`) are sent as Basic auth, never in a message. */
  url: string;
  /** audit.http.timeoutSeconds: the whole exchange, from connecting to the status line. */
  timeoutSeconds: number;
  /** KEYPORTAL_AUDIT_SECRET: each batch is signed with it (`x-keyportal-signature`, endpoint `audit`). */
  secret: string;
}

/** CloudEvents HTTP protocol binding 1.0, batched content mode: the body is a JSON array of events. */
export const CLOUDEVENTS_BATCH = 'application/cloudevents-batch+json';
/** How much of a refusal's body is read, and how much of it a message shows. */
const HEAD_BYTES = 2048;
const DETAIL_CHARS = 200;

/**
 * POSTs each batch, whole, to the collector, signed as the webhooks are. Any 2xx is the
 * acknowledgement; everything else (another status, a redirect, a refused or broken connection,
 * no answer within the timeout, the shipper giving up) throws AuditSinkError, and the batch is
 * sent again later. Messages name the collector by host only: the URL's path, query and
 * credentials, and the secret, never reach one.
 */
export class HttpSink implements AuditSink {
  readonly kind = 'http' as const;
  private readonly url: string;
  private readonly host: string;
  private readonly authorization: string | undefined;
  /** Never shown: the URL's credentials and query values, the secret. */
  private readonly hidden: string[];

  constructor(private readonly options: HttpSinkOptions) {
    if (!options.secret) throw new Error('audit sink http: the signing secret (KEYPORTAL_AUDIT_SECRET) is empty');
    const target = new URL(options.url);
    const user = decoded(target.username);
    const password = decoded(target.password);
    const query = target.search.slice(1);
    const rawValues = query.split('&').flatMap((p) => (p.includes('=') ? [p.slice(p.indexOf('=') + 1)] : []));
    this.hidden = [...new Set([options.secret, target.username, target.password, user, password, query, ...rawValues, ...target.searchParams.values()])]
      .filter((s) => s.length > 0)
      .sort((a, b) => b.length - a.length);
    // fetch refuses a URL with credentials (and says so with the whole URL): they go in a header.
    this.authorization = user || password ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : undefined;
    target.username = '';
    target.password = '';
    this.url = target.href;
    this.host = target.host;
  }

  async send(events: readonly CloudEvent[], signal: AbortSignal): Promise<void> {
    if (events.length === 0) return;
    const body = JSON.stringify(events);
    const within = deadline(this.options.timeoutSeconds * 1000, signal);
    const headers: Record<string, string> = {
      'content-type': CLOUDEVENTS_BATCH,
      'user-agent': 'keyportal',
      [SIGNATURE_HEADER]: signatureHeader(this.options.secret, 'audit', body),
    };
    if (this.authorization) headers.authorization = this.authorization;
    try {
      await this.post(headers, body, within, signal);
    } finally {
      within.release();
    }
  }

  private async post(headers: Record<string, string>, body: string, within: Deadline, signal: AbortSignal): Promise<void> {
    let res: Response;
    try {
      // `manual`: a redirect is no acknowledgement, and the batch is not re-sent to wherever it points.
      res = await fetch(this.url, { method: 'POST', headers, body, signal: within.signal, redirect: 'manual' });
    } catch (err) {
      throw this.error(this.why(err, signal, within));
    }
    if (res.ok) {
      // The status is the acknowledgement; what follows it is not read.
      await res.body?.cancel().catch(() => undefined);
      return;
    }
    const head = await readHead(res.body, HEAD_BYTES).catch(() => '');
    const detail = this.clean(head).slice(0, DETAIL_CHARS);
    const redirect = res.status >= 300 && res.status < 400 ? ' (a redirect: point audit.http.url at the final address)' : '';
    throw this.error(`${this.host} answered HTTP ${res.status}${redirect}${detail ? `: ${detail}` : ''}`);
  }

  async close(): Promise<void> {}

  private why(err: unknown, signal: AbortSignal, within: Deadline): string {
    if (signal.aborted) return `sending to ${this.host} was abandoned`;
    if (within.timedOut) return `${this.host} did not answer within ${this.options.timeoutSeconds} s`;
    const e = err as Error & { cause?: { code?: unknown; message?: unknown } };
    const code = typeof e.cause?.code === 'string' ? e.cause.code : undefined;
    const message = typeof e.cause?.message === 'string' ? e.cause.message : e.message;
    const cause = code && !message.includes(code) ? `${code}: ${message}` : message;
    return `${this.host} is unreachable or broke off the exchange (${this.clean(cause).slice(0, DETAIL_CHARS)})`;
  }

  /** One line of printable text with nothing hidden left in it. */
  private clean(text: string): string {
    let out = text;
    for (const s of this.hidden) out = out.split(s).join('[redacted]');
    return out.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim();
  }

  private error(message: string): AuditSinkError {
    return new AuditSinkError('http', message);
  }
}

function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** The first `limit` bytes of a body (fewer if it ends sooner), then the rest is dropped. */
async function readHead(stream: ReadableStream<Uint8Array> | null, limit: number): Promise<string> {
  if (!stream) return '';
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}
