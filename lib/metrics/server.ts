import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { log } from '../log';
import { isShuttingDown } from '../shutdown';
import type { RequestStore } from '../store/types';
import { type KeyportalMetrics, metrics as processMetrics } from './registry';

export interface MetricsServerOptions {
  host: string;
  /** 0 picks a free port (tests); config allows 1 to 65535. */
  port: number;
}

export interface MetricsServerDeps {
  /** The store the request gauges read: its in-memory index, never the API server. */
  store: Pick<RequestStore, 'stats' | 'ping'>;
  /**
   * Readiness as readyz reports it. By default: the store's cache is usable and the process is
   * not stopping, which is what lib/readiness.ts decides on in a process without a web server.
   */
  ready?: () => Promise<boolean>;
  /** The registry to serve; the process's own unless a test brings one. */
  metrics?: KeyportalMetrics;
}

export interface MetricsServer {
  /** The port it listens on (the one picked, when asked for 0). */
  port: number;
  close(): Promise<void>;
}

/**
 * Prometheus's scrape endpoint on a port of its own: GET /metrics, and GET /healthz for a
 * liveness probe in processes without a web server (the worker). Anything else is 404. Nothing
 * here needs a session: every value is a count, a duration or a fixed label.
 */
export async function startMetricsServer(options: MetricsServerOptions, deps: MetricsServerDeps): Promise<MetricsServer> {
  const m = deps.metrics ?? processMetrics();
  const { store } = deps;
  m.sources.store = store;
  m.sources.ready =
    deps.ready ??
    (async () => {
      if (isShuttingDown()) return false;
      await store.ping();
      return true;
    });
  m.withDefaults();

  const server = createServer((req, res) => void answer(m, req, res));
  // A scraper that never finishes its request must not hold a socket for ever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log('warn', 'metrics: server error', { error: err.message }));
  const { port } = server.address() as AddressInfo;
  log('info', 'metrics: listening', { host: options.host, port, path: '/metrics' });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(m: KeyportalMetrics, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (req.method === 'GET' && path === '/metrics') {
    try {
      const body = await m.registry.metrics();
      res.writeHead(200, { 'content-type': m.registry.contentType, 'cache-control': 'no-store' });
      res.end(body);
    } catch (err) {
      log('warn', 'metrics: collecting failed', { error: err instanceof Error ? err.message.slice(0, 300) : String(err) });
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('collecting metrics failed; see the log\n');
    }
    return;
  }
  if (req.method === 'GET' && path === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('ok\n');
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('not found: GET /metrics\n');
}
