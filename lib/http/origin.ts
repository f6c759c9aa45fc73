import { PortalError } from '../portal/errors';

/**
 * Refuses a state-changing call that a browser made from another site (CSRF). Browsers always
 * send Origin on a cross-origin or non-GET fetch; the portal's own pages send its public origin.
 */
export function assertSameOrigin(req: Request, publicUrl: string): void {
  const origin = req.headers.get('origin');
  if (!origin) throw new PortalError(403, 'bad_origin', 'the Origin header is missing; this API answers the portal\'s own pages');
  const allowed = new Set([new URL(publicUrl).origin]);
  // The address the request actually came in on (a port-forward, a second ingress host).
  const host = req.headers.get('x-forwarded-host') ?? req.headers.get('host');
  if (host) {
    const proto = req.headers.get('x-forwarded-proto') ?? new URL(req.url).protocol.replace(':', '');
    allowed.add(`${proto}://${host}`);
  }
  if (!allowed.has(origin)) throw new PortalError(403, 'bad_origin', `requests from ${origin} are not accepted`);
}
