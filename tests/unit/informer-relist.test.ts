import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { SecretObject } from '@/lib/store/secret-codec';
import { applyChange } from '@/lib/store/write';
import { SecretInformer } from '@/lib/store/secret-informer';
import type { WatchEvent } from '@/lib/store/types';
import { fakeKubeConfig, requestSecretAt } from '../helpers/fake-api';
import { until } from '../helpers/wait';

/**
 * A Kubernetes API that answers a watch from an expired version with 410 Gone, as a cluster that
 * has run a while does. (A fresh test cluster still keeps every event since it started, so it
 * cannot be made to say 410 on demand.)
 */
class ExpiringApi {
  secrets: SecretObject[] = [];
  version = 10;
  lists = 0;
  private server: Server | undefined;
  private readonly watches = new Set<ServerResponse>();
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  async stop(): Promise<void> {
    for (const w of this.watches) w.destroy();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    // The audit cursor the cache reads beside the Secrets (lib/audit/cursor.ts): none here.
    if (!url.pathname.endsWith('/secrets')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
    }
    if (url.searchParams.get('watch') !== 'true') {
      this.lists++;
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: String(this.version) }, items: this.secrets }));
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    if (Number(url.searchParams.get('resourceVersion')) < 10) {
      res.write(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' } })}\n`);
      return void res.end();
    }
    this.watches.add(res);
    res.on('close', () => this.watches.delete(res));
  }
}

const secret = requestSecretAt;

let api: ExpiringApi | undefined;
afterEach(async () => {
  await api?.stop();
  api = undefined;
});

describe('the request cache when its version has expired', () => {
  it('a watch answered 410 Gone relists: what was deleted meanwhile is dropped, what changed is current, and watchers hear resync', async () => {
    api = new ExpiringApi();
    await api.start();
    api.secrets = [secret('aaaaaaaaaaaa', 'a@example.com', 8), secret('bbbbbbbbbbbb', 'b@example.com', 9)];
    const informer = new SecretInformer(fakeKubeConfig(api.url), 'ns');
    const events: WatchEvent[] = [];
    informer.subscribe((e) => events.push(e));
    try {
      expect(await informer.waitForSync(5000)).toBe(true);
      expect(informer.index.size).toBe(2);
      // While we were away: a deleted, b denied; our version (5) is older than the API keeps.
      api.secrets = [applyChange(secret('bbbbbbbbbbbb', 'b@example.com', 12), { state: 'denied', reason: 'no' })];
      api.version = 12;
      informer.resumeFrom('5');
      // Created by a write of ours after the list's snapshot (version 13 > 12): in no page, but kept.
      informer.offer(secret('cccccccccccc', 'c@example.com', 13));
      await until(() => events.some((e) => e.type === 'resync'), 'a relist after 410 Gone', 5000);
      expect(informer.index.get('cccccccccccc')?.resourceVersion).toBe('13');
      expect(api.lists).toBe(2);
      expect(events).toContainEqual({ type: 'delete', id: 'aaaaaaaaaaaa' });
      expect(informer.index.get('aaaaaaaaaaaa')).toBeUndefined();
      expect(informer.index.get('bbbbbbbbbbbb')?.state).toBe('denied');
      expect(informer.version).toBe('12');
      expect(informer.ready).toBe(true);
    } finally {
      informer.stop();
    }
  });
});
