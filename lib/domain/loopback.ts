/**
 * A host on this machine: `localhost`, 127.0.0.0/8, or ::1 (bare, as a config names it, or in
 * brackets, as a URL's hostname holds it). What may be spoken to in the clear, and where a
 * development sign-in harms nobody.
 */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** http:// to anything but this machine: what a credential must not travel over unless someone said so. */
export const isPlaintextBeyondLoopback = (url: string): boolean => {
  const u = new URL(url);
  return u.protocol === 'http:' && !isLoopbackHost(u.hostname);
};
