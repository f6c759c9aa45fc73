/**
 * The policy headers that do not change per response, on every answer: pages, prefetches, static
 * files and the JSON API. Set here, in Next's router, rather than in proxy.ts: running the proxy
 * for an API call cost ~1 ms of CPU (a NextRequest, a header copy, a rewrite) for headers that are
 * the same every time. proxy.ts adds only what must change per response: the pages' nonce CSP.
 */
const fixedHeaders = [
  { key: 'x-content-type-options', value: 'nosniff' },
  // Not no-referrer: with it, browsers send `Origin: null` on POST and the CSRF check could not tell.
  { key: 'referrer-policy', value: 'same-origin' },
  { key: 'x-frame-options', value: 'DENY' },
  { key: 'cross-origin-opener-policy', value: 'same-origin' },
  { key: 'permissions-policy', value: 'camera=(), microphone=(), geolocation=(), payment=()' },
];

/** A JSON answer runs no script and loads nothing: the strictest policy there is. */
const apiPolicy = "default-src 'none'; frame-ancestors 'none'";

/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // The image (Dockerfile) ships the standalone server: the traced node_modules and nothing else.
  // Left off otherwise, so `next start` (development, the tests) runs the usual build.
  ...(process.env.KEYPORTAL_BUILD_STANDALONE === '1' ? { output: 'standalone' } : {}),
  // The Kubernetes client, nodemailer and prom-client are Node-only; keep them out of the bundle.
  serverExternalPackages: ['@kubernetes/client-node', 'nodemailer', 'prom-client'],
  async headers() {
    const https = [{ type: 'header', key: 'x-forwarded-proto', value: 'https' }];
    return [
      { source: '/:path*', headers: fixedHeaders },
      { source: '/api/:path*', headers: [{ key: 'content-security-policy', value: apiPolicy }] },
      // Behind a TLS-terminating ingress only: on plain http HSTS means nothing, and in development
      // it would pin localhost to https.
      ...(process.env.NODE_ENV === 'development' ? [] : [{ source: '/:path*', has: https, headers: [{ key: 'strict-transport-security', value: 'max-age=63072000; includeSubDomains' }] }]),
    ];
  },
};

export default nextConfig;
