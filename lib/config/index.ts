export { type Config, loadConfig } from './load';
export { ConfigError } from './errors';
