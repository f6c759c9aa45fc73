import { checkPluginEntry } from '@/plugins';
import { type Config, loadConfig } from './config';
import { createStore } from './store';
import type { RequestStore } from './store/types';

export interface Runtime {
  config: Config;
  store: RequestStore;
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
  runtime ??= { config: getConfig(), store: createStore(getConfig().store) };
  return runtime;
}
