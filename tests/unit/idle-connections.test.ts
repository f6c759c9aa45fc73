import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { keepIdleConnections } from '@/lib/http/idle-connections';
import { type CountingServer, countingServer } from '@/tests/helpers/counting-server';
import { nextAnswer } from '@/tests/helpers/raw-http';

let server: CountingServer | undefined;
let client: net.Socket | undefined;
afterEach(async () => {
  client?.destroy();
  await server?.close();
  server = undefined;
});

/** A raw connection, its first request answered, to a server that closes idle ones itself after 100 ms; the portal's setting then says 2 s. */
async function connectionAfterOneAnswer(): Promise<net.Socket> {
  server = await countingServer((_req, res) => res.end('ok'));
  // Node's default is 5 s; a short one here stands for it, so the test waits little. (Node 20.20
  // closes an idle connection about a second after its keepAliveTimeout.)
  server.server.keepAliveTimeout = 100;
  keepIdleConnections(2);
  client = net.connect(Number(new URL(server.url).port), '127.0.0.1');
  client.write('GET /a HTTP/1.1\r\nhost: portal\r\n\r\n');
  expect((await nextAnswer(client, 2_000))?.body).toBe('ok');
  return client;
}

describe('idle client connections (portal.keepAliveSeconds)', () => {
  it('a kept-alive connection idle past the server default is still served, and the answer says how long it is kept', async () => {
    const socket = await connectionAfterOneAnswer();
    // Idle for longer than the server's own timeout, as a proxy's pooled connection is.
    await sleep(1_600);
    expect(socket.readyState, 'the server closed the idle connection').toBe('open');
    socket.write('GET /b HTTP/1.1\r\nhost: portal\r\n\r\n');
    const second = await nextAnswer(socket, 2_000);
    expect(second, 'the server closed the idle connection').not.toBeNull();
    expect(second?.head).toMatch(/^keep-alive: timeout=2$/im);
  });

  it('the connection is still closed once idle for the configured time', async () => {
    const socket = await connectionAfterOneAnswer();
    const t = performance.now();
    expect(await nextAnswer(socket, 5_000)).toBeNull();
    expect(performance.now() - t).toBeGreaterThan(1_600);
  });
});
