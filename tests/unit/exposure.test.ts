import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { beyondLoopback, detectExposure, listeningAddresses } from '@/lib/auth/exposure';
import { AuthConfigError, resolveAuth } from '@/lib/auth/settings';
import { parseConfig } from '@/lib/config/load';
import { assertSameOrigin } from '@/lib/http/origin';
import { PortalError } from '@/lib/portal/errors';

const embedded = parseConfig({ models: [{ id: 'gpt-4o', title: 'GPT-4o' }] }, { source: 'test', env: {} });

async function listen(host: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('where the development sign-in could be reached from', () => {
  it('reads this process\'s own listening sockets from /proc: loopback is loopback, 0.0.0.0 and :: are not', async () => {
    const lo = await listen('127.0.0.1');
    const all = await listen('0.0.0.0');
    const six = await listen('::');
    try {
      expect(listeningAddresses(lo.port)).toEqual(['127.0.0.1']);
      expect(listeningAddresses(all.port)).toEqual(['0.0.0.0']);
      expect(listeningAddresses(six.port)).toEqual(['::']);
      expect(beyondLoopback({ inPod: false, listening: listeningAddresses(lo.port) })).toBe(false);
      expect(beyondLoopback({ inPod: false, listening: listeningAddresses(all.port) })).toBe(true);
      expect(detectExposure({ PORT: String(all.port) })).toEqual({ inPod: false, listening: ['0.0.0.0'] });
    } finally {
      await Promise.all([lo.close(), all.close(), six.close()]);
    }
  });

  it('decodes /proc/net/tcp6 as Linux writes it, and only our own sockets count', () => {
    const proc = mkdtempSync(path.join(tmpdir(), 'proc-'));
    mkdirSync(path.join(proc, 'self/fd'), { recursive: true });
    mkdirSync(path.join(proc, 'self/net'), { recursive: true });
    symlinkSync('socket:[4242]', path.join(proc, 'self/fd/7'));
    const header = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
    writeFileSync(path.join(proc, 'self/net/tcp'), header);
    writeFileSync(
      path.join(proc, 'self/net/tcp6'),
      `${header}   0: 00000000000000000000000001000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 10001        0 4242 1\n` +
        `   1: 00000000000000000000000000000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0        0 9999 1\n`,
    );
    expect(listeningAddresses(3000, proc)).toEqual(['::1']);
  });

  it('refuses the development sign-in in a pod, or listening beyond loopback, whatever publicUrl says', () => {
    expect(() => resolveAuth(embedded, { inPod: true, listening: ['127.0.0.1'] })).toThrow(AuthConfigError);
    expect(() => resolveAuth(embedded, { inPod: true, listening: [] })).toThrow(/Kubernetes pod/);
    expect(() => resolveAuth(embedded, { inPod: false, listening: ['0.0.0.0'] })).toThrow(/listens on 0\.0\.0\.0, beyond loopback: start it with -H 127\.0\.0\.1/);
    expect(() => resolveAuth(embedded, { inPod: false, listening: ['::'] })).toThrow(AuthConfigError);
    expect(resolveAuth(embedded, { inPod: false, listening: ['127.0.0.1', '::1'] }).devSignIn).toBe(true);
  });
});

describe('the Origin check', () => {
  const post = (headers: Record<string, string>) => new Request('http://10.1.2.3:3000/api/requests', { method: 'POST', headers });
  it('accepts only portal.publicUrl\'s origin, whatever Host or X-Forwarded-Host the caller sends', () => {
    expect(() => assertSameOrigin(post({ origin: 'https://keys.example.com' }), 'https://keys.example.com')).not.toThrow();
    const forged: Array<Record<string, string>> = [{ origin: 'http://evil.example', host: 'evil.example' }, { origin: 'https://evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }, { origin: 'http://10.1.2.3:3000', host: '10.1.2.3:3000' }, {}];
    for (const headers of forged) {
      expect(() => assertSameOrigin(post(headers), 'https://keys.example.com')).toThrow(PortalError);
    }
  });
});
