/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // The image (Dockerfile) ships the standalone server: the traced node_modules and nothing else.
  // Left off otherwise, so `next start` (development, the tests) runs the usual build.
  ...(process.env.KEYPORTAL_BUILD_STANDALONE === '1' ? { output: 'standalone' } : {}),
  // The Kubernetes client, nodemailer and prom-client are Node-only; keep them out of the bundle.
  serverExternalPackages: ['@kubernetes/client-node', 'nodemailer', 'prom-client'],
};

export default nextConfig;
