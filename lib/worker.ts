import { ConfigError } from './config';
import { startupWarnings } from './config/warnings';
import { getConfig } from './runtime';
import { log } from './log';
import { buildLoop } from './loop/wiring';
import { startMetricsServer } from './metrics/server';
import { installShutdown, onShutdown } from './shutdown';
import { createStore } from './store';

/**
 * `npm run worker`: the approval loop alone, without the web server. SIGTERM/SIGINT finish the
 * step in hand and hand back the Lease.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = getConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`keyportal worker: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  for (const warning of startupWarnings(config)) log('warn', `worker: ${warning}`);
  const store = createStore(config.store);
  let parts;
  try {
    parts = buildLoop(config, store);
  } catch (err) {
    console.error(`keyportal worker: ${(err as Error).message}`);
    process.exit(1);
  }
  if (config.metrics.port) await startMetricsServer({ host: config.metrics.host, port: config.metrics.port }, { store });
  parts.loop.start();
  log('info', 'worker: running', { store: store.kind, gateway: parts.gateway.kind, mail: parts.mailer.kind });
  installShutdown('worker');
  onShutdown('the approval loop', () => parts.loop.stop());
}

void main();
