import { checkPluginEntry } from '@/plugins';
import { type Config, loadConfig } from './config';
import { createGateway } from './gateway';
import { GatewayStatus } from './gateway/status';
import { createStore } from './store';
import type { RequestStore } from './store/types';

export interface Runtime {
  config: Config;
  store: RequestStore;
  /** The gateway's setup, checked at most every 30 s (readyz, start-up, the approvers' page). */
  gatewayStatus: GatewayStatus;
}

let config: Config | undefined;
let runtime: Runtime | undefined;

/**
 * The process's configuration, loaded once, with each plugin checking its own entry. A bad file
 * throws ConfigError, whose message names every problem; start-up prints it and stops.
 */
export function getConfig(): Config {
  config ??= loadConfig({ checkPlugin: checkPluginEntry });
  return config;
}

/** The process-wide config and store, built once on first use. */
export function getRuntime(): Runtime {
  if (!runtime) {
    const config = getConfig();
    runtime = { config, store: createStore(config.store), gatewayStatus: new GatewayStatus(createGateway(config), config.models.map((m) => m.id)) };
  }
  return runtime;
}
