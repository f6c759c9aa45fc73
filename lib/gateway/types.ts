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

/** What a budget change sets (LiteLLM `/key/update` `max_budget`, USD): the key's whole budget, not an increase, so repeating it is harmless. */
export interface BudgetChange {
  maxBudget: number;
}

/** One day of one user's spend, as the gateway's daily activity reports it (USD). */
export interface SpendDay {
  /** `YYYY-MM-DD`, UTC. */
  date: string;
  spend: number;
  /** Spend per key that day, by the key's SHA-256 (LiteLLM's `token`). */
  byKey: Record<string, number>;
}

/** Whose spend: one user's keys (`user_id`, the requester's email), one model's keys, or both. */
export interface SpendFilter {
  userId?: string;
  model?: string;
}

/** A user's spend between two days, both included. */
export interface SpendReport {
  from: string;
  to: string;
  total: number;
  days: SpendDay[];
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
  /**
   * Sets the budget of the key whose SHA-256 (hex) this is (LiteLLM `POST /key/update`, the hash
   * in `key`: never the key). Answers the key's usage as the gateway then reports it. Throws
   * GatewayRefusedError (404) for a key the gateway does not have, GatewayUnavailableError to retry.
   */
  updateBudget(keySha256: string, change: BudgetChange, options?: { signal?: AbortSignal; changedBy?: string }): Promise<KeyInfo>;
  /**
   * Spend per day from `from` to `to` (`YYYY-MM-DD`, both included; LiteLLM `GET
   * /user/daily/activity`, v1.65.1 and later, every page) of one user's keys, or of one model's
   * keys across users. Undefined when the gateway does not report spend that way (an older
   * LiteLLM): the figures then say "unknown", nothing is guessed.
   */
  spendReport(filter: SpendFilter, from: string, to: string, signal?: AbortSignal): Promise<SpendReport | undefined>;
  /** Throws GatewayUnavailableError unless the gateway answers its liveness check. */
  alive(signal?: AbortSignal): Promise<void>;
}

/** Worth retrying: network, timeout, 5xx, 429. Never carries the master key or a minted key. */
export class GatewayUnavailableError extends Error {
  override readonly name: string = 'GatewayUnavailableError';
}

/** Nothing answered at gateway.baseUrl (refused, no route, no DNS name yet, no answer in time). */
export class GatewayUnreachableError extends GatewayUnavailableError {
  override readonly name = 'GatewayUnreachableError';
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
