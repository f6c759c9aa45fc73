/** config.yaml or the environment cannot be used. The message names the path and the problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source} is not a valid Keyportal configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}
