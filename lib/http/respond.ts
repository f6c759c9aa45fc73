import { log } from '../log';
import { PortalError } from '../portal/errors';
import { StoreUnavailableError } from '../store/errors';

/** Bodies under this are not worth gzip's header and a zlib stream: the `compression` package's own threshold. */
const COMPRESS_FROM = 1024;

/**
 * A JSON answer. Next's compression would skip bodies under 1 KB, but a route's body reaches it as
 * a stream of unknown length (Next drops `content-length`), so it gzipped every answer,
 * `{"status":"ok"}` included: a zlib stream set up and torn down per call, 4 % of the web server's
 * CPU under load. `no-transform` is the one signal it honours for a small body.
 */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  const text = JSON.stringify(body);
  const cacheControl = text.length < COMPRESS_FROM ? 'no-store, no-transform' : 'no-store';
  return new Response(text, { status, headers: { 'content-type': 'application/json', 'cache-control': cacheControl, ...headers } });
}

/** Maps a typed error to its status and a message the caller can act on; anything else is a 500. */
export function errorResponse(err: unknown): Response {
  if (err instanceof PortalError) {
    const { field, retryAfterSeconds, request } = err.details;
    return json(
      { error: { code: err.code, message: err.message, ...(field ? { field } : {}) }, ...(request ? { request } : {}) },
      err.status,
      retryAfterSeconds ? { 'retry-after': String(retryAfterSeconds) } : {},
    );
  }
  if (err instanceof StoreUnavailableError) {
    log('error', 'api: store unavailable', { error: err.message });
    return json({ error: { code: 'store_unavailable', message: 'the request store cannot be reached; try again shortly' } }, 503, { 'retry-after': '5' });
  }
  log('error', 'api: unexpected error', { error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  return json({ error: { code: 'internal', message: 'something went wrong on our side; it was logged' } }, 500);
}

/** Runs a handler body and turns any thrown error into its response. */
export async function handle(fn: () => Promise<Response>): Promise<Response> {
  try {
    return await fn();
  } catch (err) {
    return errorResponse(err);
  }
}
