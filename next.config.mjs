/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // The Kubernetes client and nodemailer are Node-only; keep them out of the bundle.
  serverExternalPackages: ['@kubernetes/client-node', 'nodemailer'],
};

export default nextConfig;
