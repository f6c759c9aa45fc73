import type { ModelConfig } from '../config/schema';

export type ModelLimits = ModelConfig['limits'];

export interface MintInput {
  /** The key value the loop generated and stored first (DESIGN.md "Minting exactly once"). */
  key: string;
  alias: string;
  model: string;
  userId: string;
  requestId: string;
  limits: ModelLimits;
}

/** The LLM gateway's admin API, as the loop needs it. */
export interface Gateway {
  readonly kind: 'litellm' | 'local';
  /** A fresh key value in this gateway's format. */
  newKey(): string;
  /** Registers the key. Throws KeyAlreadyExistsError if it exists, GatewayUnavailableError to retry. */
  generateKey(input: MintInput, signal?: AbortSignal): Promise<{ expiresAt?: string }>;
  keyExists(key: string, signal?: AbortSignal): Promise<boolean>;
  /** Deletes the key; a key that is already gone is not an error. */
  deleteKey(key: string, signal?: AbortSignal): Promise<void>;
  listModels(signal?: AbortSignal): Promise<string[]>;
}

/** Worth retrying: network, timeout, 5xx, 429. Never carries the master key or a minted key. */
export class GatewayUnavailableError extends Error {
  override readonly name = 'GatewayUnavailableError';
}

/** The gateway refused for good (4xx other than 429): retrying will not help. */
export class GatewayRefusedError extends Error {
  override readonly name = 'GatewayRefusedError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class KeyAlreadyExistsError extends Error {
  override readonly name = 'KeyAlreadyExistsError';
  constructor() {
    super('the gateway already has this key');
  }
}
