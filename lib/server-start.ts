import { AuthConfigError } from './auth/settings';
import { getAuth } from './auth/runtime';
import { ConfigError } from './config';
import { startupWarnings } from './config/warnings';
import { closeConnectionsWhileStopping } from './http/close-when-stopping';
import { keepIdleConnections } from './http/idle-connections';
import { log } from './log';
import { buildLoop } from './loop/wiring';
import { observeHeldReads } from './metrics/record';
import { startMetricsServer } from './metrics/server';
import { checkReadiness } from './readiness';
import { getRuntime } from './runtime';
import { installShutdown, onShutdown } from './shutdown';

/** How long the web server keeps answering after SIGTERM (lib/shutdown.ts says why). */
const SERVER_DRAIN_MS = 3_000;

/**
 * What the Next.js server does before serving: load config, build the store, and (unless
 * `loop.enabled` is off because `npm run worker` runs it) start the approval loop.
 */
export async function startServer(): Promise<void> {
  try {
    installShutdown('server', { drainMs: SERVER_DRAIN_MS });
    closeConnectionsWhileStopping();
    const { config, store, people, changes } = getRuntime();
    keepIdleConnections(config.portal.keepAliveSeconds);
    // First of the tasks: a status page's held read answers now (its next goes to another replica), not at the drain's end.
    onShutdown('status pages waiting', async () => changes.close());
    // The web server needs a way to sign in; find out now, not on the first visitor's request.
    const { settings: auth } = getAuth();
    if (auth.devSignIn) log('warn', 'server: development sign-in is ON: anyone who can reach this portal signs in as any email they type', { publicUrl: config.portal.publicUrl });
    for (const warning of startupWarnings(config)) log('warn', `server: ${warning}`);
    if (auth.oidc?.trustUnverifiedEmail) log('warn', 'server: auth.oidc.trustUnverifiedEmail is on: an email the identity provider did not verify is taken as identity');
    // Fill the request cache before the first visitor; readyz says not-ready until it has.
    store.warm();
    people.warm();
    changes.start();
    observeHeldReads(changes);
    if (config.metrics.port) await startMetricsServer({ host: config.metrics.host, port: config.metrics.port }, { store, ready: async () => (await checkReadiness()).ready });
    log('info', 'server: starting', { config: config.source, store: store.kind, gateway: config.gateway.type, mail: config.mail.smtp ? 'smtp' : 'outbox' });
    // What an admin should hear before an employee does: a gateway that is down, a master key it
    // refuses, a LiteLLM too old, catalog models it does not serve.
    void getRuntime()
      .gatewayStatus.current()
      .then(({ problems, missingModels }) => {
        for (const problem of problems) log('warn', `server: gateway: ${problem}`);
        if (missingModels.length) log('warn', 'server: the gateway does not serve these catalog models; requests for them will fail', { models: missingModels });
      });
    if (!config.loop.enabled) return;
    const { loop } = buildLoop(config, store, process.env, { people });
    loop.start();
    onShutdown('the approval loop', () => loop.stop());
  } catch (err) {
    if (err instanceof ConfigError || err instanceof AuthConfigError) {
      console.error(`keyportal: ${err.message}`);
      process.exit(1);
    }
    console.error(`keyportal: cannot start: ${(err as Error).message}`);
    process.exit(1);
  }
}
