import { type NextRequest, NextResponse } from 'next/server';

/**
 * Security headers on every page and API answer. Scripts run only with this response's nonce
 * ('strict-dynamic' lets Next's own chunks load); styles allow inline because React and Next emit
 * style attributes, and injected CSS cannot run code. No framing, no foreign connections.
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
  response.headers.set('x-content-type-options', 'nosniff');
  // Not no-referrer: with it, browsers send `Origin: null` on POST and the CSRF check could not tell.
  response.headers.set('referrer-policy', 'same-origin');
  response.headers.set('x-frame-options', 'DENY');
  response.headers.set('cross-origin-opener-policy', 'same-origin');
  response.headers.set('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()');
  const https = request.nextUrl.protocol === 'https:' || request.headers.get('x-forwarded-proto') === 'https';
  if (!dev && https) response.headers.set('strict-transport-security', 'max-age=63072000; includeSubDomains');
  return response;
}

// Every answer, prefetches and static files included: a prefetched page served without the
// policy would be one a browser could frame or sniff.
export const config = {
  matcher: ['/:path*'],
};
