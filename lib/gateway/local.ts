import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { type SpendFilter, type BudgetChange, type Gateway, type GatewayKey, type KeyInfo, type MintInput, type SpendReport, GatewayRefusedError, KeyAlreadyExistsError, GatewayUnavailableError } from './types';
import { keyHash, rfc3339 } from '../domain/key-request';
import { randomKey } from './key-value';
import { writeFileAtomic } from '../fs/atomic-write';
import { KeyedLock } from '../fs/keyed-lock';
import { describeIssues } from '../validations/issues';
import type { KeyUsage } from './usage';

/** Development keys say what they are: they work with nothing but this stand-in. */
export const DEV_KEY_PREFIX = 'sk-dev-keyportal-';

const recordSchema = z.object({
  key_alias: z.string(),
  models: z.array(z.string()),
  user_id: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  expires: z.string().nullable(),
  created_at: z.string(),
  // Limits as LiteLLM keeps them; optional, so a keys.json written before they were kept still loads.
  max_budget: z.number().nullish(),
  budget_duration: z.string().nullish(),
  rpm_limit: z.number().nullish(),
  tpm_limit: z.number().nullish(),
  /** The stand-in serves no completions, so spend stays 0 unless a developer edits keys.json to see the bar move. */
  spend: z.number().nonnegative().optional(),
});
const fileSchema = z.record(z.string(), recordSchema);
type KeyFile = z.infer<typeof fileSchema>;
type KeyRecord = z.infer<typeof recordSchema>;

const DURATION_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, mo: 2_592_000_000 } as const;
export function durationMs(duration: string): number | undefined {
  const m = /^(\d+)(s|m|h|d|w|mo)$/.exec(duration);
  return m ? Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS] : undefined;
}


/**
 * The embedded default's stand-in for LiteLLM: remembers keys (by their SHA-256, never in the
 * clear) in `<dir>/keys.json`, so the loop's exactly-once logic runs the same as in production.
 */
export class LocalGateway implements Gateway {
  readonly kind = 'local' as const;
  private readonly lock = new KeyedLock();

  constructor(
    private readonly dir: string,
    private readonly models: readonly string[],
    private readonly clock: () => Date = () => new Date(),
  ) {}

  newKey(): string {
    return randomKey(DEV_KEY_PREFIX);
  }

  generateKey(input: MintInput): Promise<{ expiresAt?: string }> {
    return this.locked(async () => {
      const keys = await this.load();
      const h = keyHash(input.key);
      // As LiteLLM: a key, or an alias, can be registered once.
      if (keys[h] || Object.values(keys).some((k) => k.key_alias === input.alias)) throw new KeyAlreadyExistsError();
      const ms = input.limits.duration ? durationMs(input.limits.duration) : undefined;
      const expires = ms ? rfc3339(new Date(this.clock().getTime() + ms)) : null;
      keys[h] = {
        key_alias: input.alias,
        models: [input.model],
        user_id: input.userId,
        metadata: { request_id: input.requestId },
        expires,
        created_at: this.clock().toISOString(),
        max_budget: input.limits.max_budget ?? null,
        budget_duration: input.limits.budget_duration ?? null,
        rpm_limit: input.limits.rpm_limit ?? null,
        tpm_limit: input.limits.tpm_limit ?? null,
        spend: 0,
      };
      await this.save(keys);
      return expires ? { expiresAt: expires } : {};
    });
  }

  async keyInfo(keySha256: string): Promise<KeyInfo | undefined> {
    const found = (await this.load())[keySha256];
    if (!found) return undefined;
    return { ...(found.expires ? { expiresAt: found.expires } : {}), usage: this.usageOf(found) };
  }

  /** Usage as LiteLLM would report it; the budget resets a whole budget_duration after creation, counted forward to the next one due. */
  private usageOf(k: KeyRecord): KeyUsage {
    const period = k.budget_duration ? durationMs(k.budget_duration) : undefined;
    let resetAt: string | null = null;
    if (period) {
      const created = Date.parse(k.created_at);
      const now = this.clock().getTime();
      const periods = Math.max(1, Math.ceil((now - created) / period));
      resetAt = Number.isNaN(created) ? null : rfc3339(new Date(created + periods * period));
    }
    return {
      spend: k.spend ?? 0,
      maxBudget: k.max_budget ?? null,
      budgetDuration: k.budget_duration ?? null,
      budgetResetAt: resetAt,
      rpmLimit: k.rpm_limit ?? null,
      tpmLimit: k.tpm_limit ?? null,
      expiresAt: k.expires,
    };
  }

  /** As LiteLLM's /key/update: the whole budget is replaced; a negative one, or a key it does not have, is refused. */
  updateBudget(keySha256: string, change: BudgetChange): Promise<KeyInfo> {
    return this.locked(async () => {
      if (!Number.isFinite(change.maxBudget)) throw new GatewayRefusedError(400, 'max_budget must be a number of USD');
      if (change.maxBudget < 0) throw new GatewayRefusedError(400, `max_budget cannot be negative. Received: ${change.maxBudget}`);
      const keys = await this.load();
      const found = keys[keySha256];
      if (!found) throw new GatewayRefusedError(404, 'the gateway has no such key');
      found.max_budget = change.maxBudget;
      await this.save(keys);
      return { ...(found.expires ? { expiresAt: found.expires } : {}), usage: this.usageOf(found) };
    });
  }

  /**
   * The stand-in serves no completions, so no key of it has spent anything on any day: an empty
   * report is the truth, not a guess (and keeps the "figures known" path of the portal working
   * in development). A `spend` edited into keys.json moves the usage bar only; it is no traffic.
   */
  async spendReport(_filter: SpendFilter, from: string, to: string): Promise<SpendReport | undefined> {
    await this.load(); // a broken keys.json is reported as for every other call
    return { from, to, total: 0, days: [] };
  }

  deleteKey(alias: string): Promise<void> {
    return this.locked(async () => {
      const keys = await this.load();
      for (const [h, k] of Object.entries(keys)) if (k.key_alias === alias) delete keys[h];
      await this.save(keys);
    });
  }

  async listKeys(aliasPrefix: string): Promise<GatewayKey[]> {
    return Object.entries(await this.load())
      .filter(([, k]) => k.key_alias.startsWith(aliasPrefix))
      .map(([token, k]) => ({ token, alias: k.key_alias, ...(typeof k.metadata.request_id === 'string' ? { requestId: k.metadata.request_id } : {}) }));
  }

  async alive(): Promise<void> {
    await this.load();
  }

  async listModels(): Promise<string[]> {
    return [...this.models];
  }

  private get file(): string {
    return path.join(this.dir, 'keys.json');
  }

  private async load(): Promise<KeyFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new GatewayUnavailableError(`local gateway cannot read ${this.file}: ${(err as NodeJS.ErrnoException).code}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new GatewayUnavailableError(`local gateway file ${this.file} is not valid JSON; fix or remove it`);
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) throw new GatewayUnavailableError(`local gateway file ${this.file} is malformed: ${describeIssues(parsed.error).map((i) => `${i.path}: ${i.message}`)[0] ?? 'unexpected shape'}`);
    return parsed.data;
  }

  private async save(keys: KeyFile): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, JSON.stringify(keys, null, 2));
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run('keys', fn);
  }
}
