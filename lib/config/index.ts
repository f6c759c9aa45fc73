import { checkPluginEntry } from '@/plugins';
import { type Config, loadConfig } from './load';

let cached: Config | undefined;

/**
 * The process's configuration, loaded once. A bad file throws ConfigError, whose message names
 * every problem; start-up prints it and stops.
 */
export function getConfig(): Config {
  cached ??= loadConfig({ checkPlugin: checkPluginEntry });
  return cached;
}

export type { Config } from './load';
export { ConfigError } from './errors';
