import { type Server, type ServerResponse, createServer } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SecretObject } from '@/lib/store/secret-codec';
import { SecretInformer } from '@/lib/store/secret-informer';
import type { WatchEvent } from '@/lib/store/types';
import { fakeKubeConfig, requestSecretAt } from '../helpers/fake-api';
import { until } from '../helpers/wait';

// Counts the cache's decodes; each still decodes as the store does.
const decodes = vi.hoisted(() => ({ count: 0 }));
vi.mock('@/lib/store/secret-codec', async (original) => {
  const codec = await original<typeof import('@/lib/store/secret-codec')>();
  return { ...codec, decodeRequest: (raw: unknown) => (decodes.count++, codec.decodeRequest(raw)) };
});

/** An API server whose list is empty and whose watch says what the test writes to it. */
class WatchedApi {
  private server: Server | undefined;
  watch: ServerResponse | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (!url.pathname.endsWith('/secrets')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      if (url.searchParams.get('watch') !== 'true') return void res.end(JSON.stringify({ kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [] }));
      res.flushHeaders();
      this.watch = res;
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  send(type: 'ADDED' | 'MODIFIED', object: SecretObject): void {
    this.watch?.write(`${JSON.stringify({ type, object })}\n`);
  }

  async stop(): Promise<void> {
    this.watch?.destroy();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
}

function secret(id: string, rv: number, state = 'pending'): SecretObject {
  const s = requestSecretAt(id, `${id}@example.com`, rv);
  s.metadata.labels['keyportal.dev/state'] = state;
  return s;
}

let api: WatchedApi | undefined;
afterEach(async () => {
  await api?.stop();
  api = undefined;
});

describe('the request cache and the watch events of its own writes', () => {
  it('decodes a Secret once when the watch repeats the version a write already gave it, or the write answers with one the watch brought, and again when someone else changes it', async () => {
    api = new WatchedApi();
    await api.start();
    const informer = new SecretInformer(fakeKubeConfig(api.url), 'ns');
    const events: WatchEvent[] = [];
    informer.subscribe((e) => events.push(e));
    try {
      expect(await informer.waitForSync(5000)).toBe(true);
      await until(() => api?.watch !== undefined, 'the watch', 5000);
      decodes.count = 0;
      // Our write's answer, then the watch's word of the same version: one decode, one upsert.
      informer.offer(secret('aaaaaaaaaaaa', 11));
      api.send('ADDED', secret('aaaaaaaaaaaa', 11));
      // An admin's edit (a newer version), then another person's request: each decoded.
      api.send('MODIFIED', secret('aaaaaaaaaaaa', 12, 'approved'));
      api.send('ADDED', secret('bbbbbbbbbbbb', 13));
      await until(() => informer.index.get('bbbbbbbbbbbb') !== undefined, 'the last watch event', 5000);
      expect(decodes.count).toBe(3);
      expect(events.filter((e) => e.type === 'upsert').map((e) => e.type === 'upsert' && [e.id, e.request?.resourceVersion])).toEqual([
        ['aaaaaaaaaaaa', '11'],
        ['aaaaaaaaaaaa', '12'],
        ['bbbbbbbbbbbb', '13'],
      ]);
      expect(informer.index.get('aaaaaaaaaaaa')?.state).toBe('approved');

      // The other order: the watch brings a version before the write that made it answers.
      api.send('MODIFIED', secret('bbbbbbbbbbbb', 14, 'approved'));
      await until(() => informer.index.get('bbbbbbbbbbbb')?.resourceVersion === '14', 'the watch event before the answer', 5000);
      const answered = informer.offer(secret('bbbbbbbbbbbb', 14, 'approved'));
      expect(answered).toBe(informer.index.get('bbbbbbbbbbbb'));
      expect(decodes.count).toBe(4);
      // An answer older than what the watch brought is still the writer's own version.
      expect(informer.offer(secret('bbbbbbbbbbbb', 13)).resourceVersion).toBe('13');
      expect(informer.index.get('bbbbbbbbbbbb')?.resourceVersion).toBe('14');
    } finally {
      informer.stop();
    }
  });
});
