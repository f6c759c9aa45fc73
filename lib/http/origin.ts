import { PortalError } from '../portal/errors';

/**
 * Refuses a state-changing call that a browser made from another site (CSRF). Browsers always
 * send Origin on a cross-origin or non-GET fetch; the portal's own pages send its public origin.
 * Only portal.publicUrl counts: the Host header is the caller's to choose (a request sent
 * straight to a pod with a made-up Host and a matching Origin would otherwise pass), so a
 * port-forward or a second host name sets portal.publicUrl to what browsers use.
 */
export function assertSameOrigin(req: Request, publicUrl: string): void {
  const origin = req.headers.get('origin');
  if (!origin) throw new PortalError(403, 'bad_origin', 'the Origin header is missing; this API answers the portal\'s own pages');
  const expected = new URL(publicUrl).origin;
  if (origin !== expected) throw new PortalError(403, 'bad_origin', `requests from ${origin} are not accepted; this portal answers pages served from ${expected} (portal.publicUrl)`);
}
