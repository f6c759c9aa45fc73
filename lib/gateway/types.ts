import type { ModelConfig } from '../config/schema';
import type { KeyUsage } from './usage';

export type ModelLimits = ModelConfig['limits'];

export interface MintInput {
  /** The key value the loop generated and stored first (DESIGN.md "Minting exactly once"). */
  key: string;
  alias: string;
  model: string;
  userId: string;
  requestId: string;
  limits: ModelLimits;
  /** Who decided (recorded by LiteLLM as the change's author, `litellm-changed-by`). */
  changedBy?: string;
}

/** What the gateway knows of a key; never the key itself. */
export interface KeyInfo {
  expiresAt?: string;
  /** Spend and limits, when the gateway reports them (the status page's usage bar). */
  usage?: KeyUsage;
}

/** A key as the gateway lists it: never the key itself. */
export interface GatewayKey {
  /** The key's SHA-256 (hex), LiteLLM's `token`. */
  token: string;
  alias: string;
  /** `metadata.request_id`, as the loop minted it. */
  requestId?: string;
}

/** The LLM gateway's admin API, as the loop needs it. */
export interface Gateway {
  readonly kind: 'litellm' | 'local';
  /** A fresh key value in this gateway's format. */
  newKey(): string;
  /** Registers the key. Throws KeyAlreadyExistsError if it exists, GatewayUnavailableError to retry. */
  generateKey(input: MintInput, signal?: AbortSignal): Promise<{ expiresAt?: string }>;
  /** The key whose SHA-256 (hex) this is, or undefined if the gateway has none: never the key in a URL. */
  keyInfo(keySha256: string, signal?: AbortSignal): Promise<KeyInfo | undefined>;
  /** Deletes the key registered under this alias; one that is already gone is not an error. */
  deleteKey(alias: string, options?: { signal?: AbortSignal; changedBy?: string }): Promise<void>;
  /** Every key whose alias starts with `aliasPrefix`, page by page (the gateway sweep). */
  listKeys(aliasPrefix: string, signal?: AbortSignal): Promise<GatewayKey[]>;
  listModels(signal?: AbortSignal): Promise<string[]>;
  /** Throws GatewayUnavailableError unless the gateway answers its liveness check. */
  alive(signal?: AbortSignal): Promise<void>;
}

/** Worth retrying: network, timeout, 5xx, 429. Never carries the master key or a minted key. */
export class GatewayUnavailableError extends Error {
  override readonly name: string = 'GatewayUnavailableError';
}

/** The gateway refused the master key (HTTP 401). LiteLLM releases before November 2024 said the same for an unknown key on /key/info. */
export class GatewayAuthError extends GatewayUnavailableError {
  override readonly name = 'GatewayAuthError';
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
