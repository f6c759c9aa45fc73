import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { LiteLLMGateway } from '@/lib/gateway/litellm';
import { GatewayUnavailableError } from '@/lib/gateway/types';
import { type CountingServer, countingServer } from '../helpers/counting-server';

const MASTER = 'sk-master-transport-1234';
let server: CountingServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A server answering every call with `answer` once its body is read. */
async function serve(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<CountingServer> {
  server = await countingServer((req, res) => req.resume().on('end', () => answer(req, res)));
  return server;
}

const alive = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
  res.end('{}');
};

describe("the LiteLLM client's connections", () => {
  it('keeps them alive: 200 calls, 10 at a time, over at most 10 connections', async () => {
    const { url, connections } = await serve((_, res) => alive(res));
    const gw = new LiteLLMGateway({ baseUrl: url, masterKey: MASTER, timeoutMs: 2000 });
    for (let round = 0; round < 20; round++) await Promise.all(Array.from({ length: 10 }, () => gw.alive()));
    expect(connections()).toBeLessThanOrEqual(10);
  });

  it('an answer that breaks off after its headers is worth retrying, and says so', async () => {
    const { url } = await serve((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"key": "sk-');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const gw = new LiteLLMGateway({ baseUrl: url, masterKey: MASTER, timeoutMs: 2000 });
    const err = await gw.listModels().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayUnavailableError);
    expect((err as Error).message).toMatch(/^gateway http:\/\/127\.0\.0\.1:\d+ broke off its answer \(GET \/v1\/models\)/);
    expect((err as Error).message).not.toContain(MASTER);
  });

  it('a redirect is not followed: worth retrying (the address may be mid-change), and the message says what to fix', async () => {
    const { url } = await serve((_, res) => {
      res.writeHead(307, { location: 'https://elsewhere.example.com/v1/models' });
      res.end();
    });
    const gw = new LiteLLMGateway({ baseUrl: url, masterKey: MASTER, timeoutMs: 2000 });
    const err = await gw.listModels().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayUnavailableError);
    expect((err as Error).message).toMatch(/answered GET \/v1\/models with a redirect \(HTTP 307\); gateway\.baseUrl must be the address that serves LiteLLM's API/);
  });

  it('no answer in time is retried, and names the time', async () => {
    const { url } = await serve(() => undefined);
    const gw = new LiteLLMGateway({ baseUrl: url, masterKey: MASTER, timeoutMs: 200 });
    const err = await gw.alive().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayUnavailableError);
    expect((err as Error).message).toMatch(/unreachable \(GET \/health\/liveliness\): no answer within 200 ms/);
  });
});
