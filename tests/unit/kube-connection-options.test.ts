import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TLS_REUSE_MS, connectionOptions } from '@/lib/kube/connection-options';
import { withKeepAlive } from '@/lib/kube/keep-alive';
import { rawCall } from '@/lib/kube/raw';
import { type CountingServer, countingServer } from '../helpers/counting-server';
import { fakeKubeConfig } from '../helpers/fake-api';

/** A KubeConfig whose CA is a file on disk, as in a pod; the user carries a bearer token. */
function podLikeConfig(): { kc: KubeConfig; caFile: string } {
  const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'kp-ca-')), 'ca.crt');
  writeFileSync(caFile, 'CA ONE');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1', caFile }],
    users: [{ name: 'u', token: 'token-one' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { kc: withKeepAlive(kc), caFile };
}

const setToken = (kc: KubeConfig, token: string) => Object.assign(kc.users[0] as object, { token });

describe('the options an API call is sent with', () => {
  it('reads the TLS material once a minute, not once a call, and keeps the one kept-alive agent', async () => {
    const { kc } = podLikeConfig();
    const full = vi.spyOn(kc, 'applyToHTTPSOptions');
    const t0 = 1_000_000;
    const first = await connectionOptions(kc, t0);
    for (let i = 1; i <= 100; i++) await connectionOptions(kc, t0 + i * 100);
    expect(full).toHaveBeenCalledTimes(1);
    expect(String(first.ca)).toBe('CA ONE');
    expect((await connectionOptions(kc, t0 + 30_000)).agent).toBe(first.agent);
  });

  it('picks up a rotated CA within the minute, and a clock that went back', async () => {
    const { kc, caFile } = podLikeConfig();
    const t0 = 5_000_000;
    await connectionOptions(kc, t0);
    writeFileSync(caFile, 'CA TWO');
    expect(String((await connectionOptions(kc, t0 + TLS_REUSE_MS - 1)).ca)).toBe('CA ONE');
    expect(String((await connectionOptions(kc, t0 + TLS_REUSE_MS)).ca)).toBe('CA TWO');
    writeFileSync(caFile, 'CA THREE');
    expect(String((await connectionOptions(kc, t0)).ca)).toBe('CA THREE');
  });

  it('asks for the credentials on every call: a new token is sent at once, a removed one is not sent', async () => {
    const { kc } = podLikeConfig();
    const t0 = 9_000_000;
    expect((await connectionOptions(kc, t0)).headers).toEqual({ Authorization: 'Bearer token-one' });
    setToken(kc, 'token-two');
    expect((await connectionOptions(kc, t0 + 1)).headers).toEqual({ Authorization: 'Bearer token-two' });
    setToken(kc, '');
    expect((await connectionOptions(kc, t0 + 2)).headers).toEqual({});
  });
});

describe('rawCall', () => {
  let server: CountingServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('sends each call with the token of its moment', async () => {
    const seen: (string | undefined)[] = [];
    server = await countingServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"Status"}');
    });
    const kc = withKeepAlive(fakeKubeConfig(server.url));
    await rawCall(kc, { method: 'GET', path: '/api/v1/namespaces/a/secrets' });
    setToken(kc, 'rotated');
    await rawCall(kc, { method: 'GET', path: '/api/v1/namespaces/a/secrets' });
    expect(seen).toEqual(['Bearer t', 'Bearer rotated']);
  });
});
