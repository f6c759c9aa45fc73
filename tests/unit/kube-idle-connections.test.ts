import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Watch } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { withKeepAlive } from '@/lib/kube/keep-alive';
import { rawCall } from '@/lib/kube/raw';
import { type CountingServer, countingServer } from '../helpers/counting-server';
import { fakeKubeConfig } from '../helpers/fake-api';

/** The portal's idle limit, scaled down; the server below closes at 2.5× it, as 90 s is to 60 s (with margin). */
const IDLE_MS = 150;
const SERVER_IDLE_MS = 250;

const lastAnswer = new WeakMap<Socket, number>();
let server: CountingServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/**
 * An API server that closes a connection idle for SERVER_IDLE_MS at the very moment the next
 * call arrives on it: the call is read and the connection dropped unanswered, which is what a
 * client sees when kube-apiserver's 90 s IdleTimeout and its call cross.
 */
async function apiServer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<CountingServer> {
  server = await countingServer((req, res) => {
    const last = lastAnswer.get(req.socket);
    if (last !== undefined && Date.now() - last >= SERVER_IDLE_MS) {
      req.socket.destroy();
      return;
    }
    res.on('finish', () => lastAnswer.set(req.socket, Date.now()));
    handle(req, res);
  });
  server.server.keepAliveTimeout = 60_000;
  return server;
}

const status = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"Status"}');

describe("the API server's connections", () => {
  it('are closed by the portal once idle past its limit, before the server drops them under a call', async () => {
    const api = await apiServer((_req, res) => status(res));
    const kc = withKeepAlive(fakeKubeConfig(api.url), IDLE_MS);
    await rawCall(kc, { method: 'GET', path: '/api/v1/namespaces/a/secrets' });
    // Reused while fresh: one connection for two calls.
    await rawCall(kc, { method: 'GET', path: '/api/v1/namespaces/a/secrets' });
    expect(api.connections()).toBe(1);
    await sleep(SERVER_IDLE_MS + 150);
    await expect(rawCall(kc, { method: 'POST', path: '/api/v1/namespaces/a/secrets', body: { kind: 'Secret' } })).resolves.toEqual({ kind: 'Status' });
    expect(api.connections()).toBe(2);
  });

  it('stay open under a call that takes longer than the idle limit to answer', async () => {
    const api = await apiServer((_req, res) => void setTimeout(() => status(res), IDLE_MS * 3));
    const kc = withKeepAlive(fakeKubeConfig(api.url), IDLE_MS);
    await expect(rawCall(kc, { method: 'GET', path: '/api/v1/namespaces/a/secrets' })).resolves.toEqual({ kind: 'Status' });
    expect(api.connections()).toBe(1);
  });

  it('stay open under a watch that is quiet for longer than the idle limit', async () => {
    const api = await apiServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"BOOKMARK","object":{"kind":"Secret","metadata":{"resourceVersion":"1"}}}\n');
      setTimeout(() => res.end('{"type":"BOOKMARK","object":{"kind":"Secret","metadata":{"resourceVersion":"2"}}}\n'), IDLE_MS * 3);
    });
    const kc = withKeepAlive(fakeKubeConfig(api.url), IDLE_MS);
    const seen: string[] = [];
    const ended = new Promise<unknown>((resolve) => {
      void new Watch(kc).watch('/api/v1/namespaces/a/secrets', {}, (_type, obj: { metadata: { resourceVersion: string } }) => seen.push(obj.metadata.resourceVersion), resolve);
    });
    expect(await ended).toBeNull();
    expect(seen).toEqual(['1', '2']);
  });
});
