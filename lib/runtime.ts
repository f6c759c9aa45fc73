import { type Config, getConfig } from './config';
import { createStore } from './store';
import type { RequestStore } from './store/types';

export interface Runtime {
  config: Config;
  store: RequestStore;
}

let runtime: Runtime | undefined;

/** The process-wide config and store, built once on first use. */
export function getRuntime(): Runtime {
  if (!runtime) {
    const config = getConfig();
    runtime = { config, store: createStore(config.store) };
  }
  return runtime;
}
