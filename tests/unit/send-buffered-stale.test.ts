import { Agent } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { sendBuffered } from '@/lib/io/send-buffered';
import { type CountingServer, countingServer } from '../helpers/counting-server';

let server: CountingServer | undefined;
let agent: Agent | undefined;
afterEach(async () => {
  agent?.destroy();
  await server?.close();
  server = undefined;
});

/**
 * A server that is restarting: it answers the first call on a connection and keeps the
 * connection, then drops the connection under the next call on it, unanswered, as a server
 * closing its kept-alive connections does to a call that crosses the close.
 */
async function closingServer(): Promise<CountingServer> {
  const calls = new WeakMap<object, number>();
  server = await countingServer((req, res) => {
    const n = (calls.get(req.socket) ?? 0) + 1;
    calls.set(req.socket, n);
    if (n > 1) return void req.socket.destroy();
    req.resume().on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(`{"method":"${req.method}"}`));
  });
  server.server.keepAliveTimeout = 60_000;
  return server;
}

describe('a call on a kept-alive connection the server closes under it', () => {
  it('a read is sent again on another connection and answered', async () => {
    const s = await closingServer();
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL(`${s.url}/thing`);
    expect((await sendBuffered(url, { method: 'GET', agent })).status).toBe(200);
    const again = await sendBuffered(url, { method: 'GET', agent });
    expect(again.body.toString()).toBe('{"method":"GET"}');
    expect(s.connections()).toBe(2);
  });

  it('a write is not sent again: its caller hears of the reset', async () => {
    const s = await closingServer();
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL(`${s.url}/thing`);
    await sendBuffered(url, { method: 'POST', agent }, '{}');
    await expect(sendBuffered(url, { method: 'POST', agent }, '{}')).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(s.connections()).toBe(1);
  });

  it('a read on a fresh connection that the server drops is not sent again', async () => {
    server = await countingServer((req) => req.socket.destroy());
    agent = new Agent({ keepAlive: true });
    await expect(sendBuffered(new URL(`${server.url}/thing`), { method: 'GET', agent })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(server.connections()).toBe(1);
  });
});
