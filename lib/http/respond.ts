import { log } from '../log';
import { PortalError } from '../portal/errors';
import { StoreUnavailableError } from '../store/errors';

const NO_STORE = { 'cache-control': 'no-store' };

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers: { ...NO_STORE, ...headers } });
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
