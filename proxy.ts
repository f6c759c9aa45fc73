import { type NextRequest, NextResponse } from 'next/server';

/**
 * The pages' Content-Security-Policy, with a nonce made for this response: scripts run only with
 * it ('strict-dynamic' lets Next's own chunks load); styles allow inline because React and Next
 * emit style attributes, and injected CSS cannot run code. No framing, no foreign connections.
 * The headers that are the same on every answer, and the JSON API's own policy, are next.config's.
 */
export function proxy(request: NextRequest) {
  const nonce = Buffer.from(crypto.randomUUID()).toString('base64');
  const dev = process.env.NODE_ENV === 'development';
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ''}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: https:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');

  const requestHeaders = new Headers(request.headers);
  // Next reads the nonce from the request's CSP header and puts it on its own script tags.
  requestHeaders.set('x-nonce', nonce);
  requestHeaders.set('content-security-policy', csp);
  const response = NextResponse.next({ request: { headers: requestHeaders } });
  response.headers.set('content-security-policy', csp);
  return response;
}

// Every page, prefetches included: a prefetched page served without the policy would be one a
// browser could frame. Not the JSON API (its policy is fixed, next.config's) nor the build's
// static files (no document to protect): the proxy costs ~1 ms of CPU a call.
export const config = {
  matcher: ['/((?!api/|_next/static/).*)'],
};
