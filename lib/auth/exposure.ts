import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';

/**
 * Who can reach this portal's sign-in, as far as the process itself can tell: whether it runs in
 * a Kubernetes pod (any pod of the cluster may then connect), and the addresses its web port
 * listens on. The development sign-in (type an email, no password) is refused when either says
 * "beyond this machine" (lib/auth/settings.ts), whatever portal.publicUrl claims.
 */
export interface Exposure {
  /** Kubernetes put this process in a pod: KUBERNETES_SERVICE_HOST, or a ServiceAccount mount. */
  inPod: boolean;
  /** Addresses the web port (PORT, which Next sets once it listens) is bound to; empty when unknown. */
  listening: string[];
}

export function isLoopbackAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  return a === '::1' || /^127\./.test(a) || /^::ffff:127\./.test(a);
}

export const beyondLoopback = (e: Exposure): boolean => e.listening.some((a) => !isLoopbackAddress(a));

/** An IPv4 address as /proc/net/tcp writes it (hex, little-endian per word). */
function ipv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

/** An IPv6 address as /proc/net/tcp6 writes it: four little-endian words. */
function ipv6(hex: string): string {
  const words = (hex.match(/.{8}/g) ?? []).map((w) => (w.match(/../g) ?? []).reverse().join(''));
  const groups = words.join('').match(/.{4}/g) ?? [];
  const text = groups.map((g) => g.replace(/^0+(?=.)/, '')).join(':');
  if (text === '0:0:0:0:0:0:0:0') return '::';
  if (text === '0:0:0:0:0:0:0:1') return '::1';
  const mapped = /^0:0:0:0:0:ffff:([0-9a-f]+):([0-9a-f]+)$/.exec(text);
  if (mapped) {
    const v = (Number.parseInt(mapped[1] as string, 16) << 16) | Number.parseInt(mapped[2] as string, 16);
    return `::ffff:${[(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.')}`;
  }
  return text;
}

/**
 * The addresses this process listens on at `port`, from Linux's /proc (the sockets of our own
 * file descriptors in state LISTEN). Elsewhere (a laptop that is not Linux) nothing is known.
 */
export function listeningAddresses(port: number, proc = '/proc'): string[] {
  let inodes: Set<string>;
  try {
    inodes = new Set(
      readdirSync(`${proc}/self/fd`)
        .map((fd) => {
          try {
            return /^socket:\[(\d+)\]$/.exec(readlinkSync(`${proc}/self/fd/${fd}`))?.[1];
          } catch {
            return undefined;
          }
        })
        .filter((i): i is string => i !== undefined),
    );
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const [file, decode] of [['tcp', ipv4], ['tcp6', ipv6]] as const) {
    let text: string;
    try {
      text = readFileSync(`${proc}/self/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [addr, portHex] = (cols[1] ?? '').split(':');
      if (cols[3] !== '0A' || !addr || Number.parseInt(portHex ?? '', 16) !== port || !inodes.has(cols[9] ?? '')) continue;
      found.push(decode(addr));
    }
  }
  return found;
}

export function detectExposure(env: Readonly<Record<string, string | undefined>> = process.env): Exposure {
  const inPod = Boolean(env.KUBERNETES_SERVICE_HOST) || existsSync('/var/run/secrets/kubernetes.io/serviceaccount');
  const port = Number(env.PORT);
  return { inPod, listening: Number.isInteger(port) && port > 0 ? listeningAddresses(port) : [] };
}
