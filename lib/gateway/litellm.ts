import { z } from 'zod';
import { rfc3339 } from '../domain/key-request';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { failureCause, nothingAnswered } from '../domain/unreachable';
import { deadline } from '../io/deadline';
import { BrokenOffError, type BufferedResponse, sendBuffered } from '../io/send-buffered';
import { randomKey } from './key-value';
import { liteLLMKeyInfoSchema, usageFromLiteLLM } from './usage';
import { type SpendFilter, type BudgetChange, type Gateway, GatewayAuthError, type GatewayKey, type KeyInfo, type MintInput, GatewayRefusedError, GatewayUnavailableError, GatewayUnreachableError, KeyAlreadyExistsError, type SpendDay, type SpendReport } from './types';

/** LiteLLM's error body: `{"error": {"message", "type", "param", "code"}}`; FastAPI's 422: `{"detail": [...]}`. */
const errorBodySchema = z.union([
  z.object({ error: z.object({ message: z.unknown(), type: z.string().nullish(), param: z.string().nullish() }) }),
  z.object({ detail: z.unknown() }),
]);
const generateResponseSchema = z.object({ key: z.string(), expires: z.string().nullish() });
const infoResponseSchema = z.object({ info: z.object({ expires: z.string().nullish() }).loose() });
const modelsResponseSchema = z.object({ data: z.array(z.object({ id: z.string() })) });
/** /key/list with return_full_object=true: each key's row, without the key itself. */
const listResponseSchema = z.object({
  keys: z.array(z.object({ token: z.string(), key_alias: z.string().nullish(), metadata: z.record(z.string(), z.unknown()).nullish() }).loose()),
  total_pages: z.number().int().nonnegative().nullish(),
});
/** /key/update's answer: `{"key": <as passed>, ...the key's row}`; releases before 2025 answered only the changed fields. */
const updateResponseSchema = z.object({ spend: z.number().nullish() }).loose();
/** A bucket of /user/daily/activity's breakdown: only spend is read. */
const spendBucketSchema = z.object({ metrics: z.object({ spend: z.number() }).loose(), metadata: z.object({ user_id: z.string().nullish() }).loose().nullish() }).loose();
/** GET /user/daily/activity (SpendAnalyticsPaginatedResponse): a page of table rows, folded by day. */
const activityResponseSchema = z.object({
  results: z.array(
    z
      .object({
        date: z.iso.date(),
        metrics: z.object({ spend: z.number() }).loose(),
        breakdown: z.object({ api_keys: z.record(z.string(), spendBucketSchema).nullish(), entities: z.record(z.string(), z.unknown()).nullish() }).loose().nullish(),
      })
      .loose(),
  ),
  metadata: z.object({ total_pages: z.number().int().nullish(), has_more: z.boolean().nullish() }).loose().nullish(),
});
const dayParam = z.iso.date();
/** LiteLLM's page size ceiling for /user/daily/activity (`page_size: le=1000`): fewest calls, and fewest page edges to fall on. */
const ACTIVITY_PAGE_SIZE = 1000;
/** 100,000 rows (one per key, model and day) for one user: far past any real range; a bound so a misbehaving gateway cannot keep a report going. */
const MAX_ACTIVITY_PAGES = 100;
/** LiteLLM's page size ceiling for /key/list (`size: le=100`). */
const LIST_PAGE_SIZE = 100;
/** 1,000,000 keys: far past any gateway Keyportal serves; a bound so a misbehaving gateway cannot keep a sweep going. */
const MAX_LIST_PAGES = 10_000;

export interface LiteLLMOptions {
  baseUrl: string;
  masterKey: string;
  timeoutMs: number;
  /** What minted keys start with (LiteLLM requires `sk-`): `sk-trial-kp-` in a trial install. */
  keyPrefix?: string;
}

/**
 * Client of LiteLLM's admin API (litellm/proxy/management_endpoints/key_management_endpoints.py):
 * POST /key/generate, GET /key/info, POST /key/update, POST /key/delete, GET /key/list,
 * GET /v1/models, and GET /user/daily/activity (internal_user_endpoints.py). The master key travels
 * only in the Authorization header; no message built here ever holds it or a minted key.
 */
export class LiteLLMGateway implements Gateway {
  readonly kind = 'litellm' as const;
  private readonly base: string;
  /**
   * Kept-alive connections, as fetch's were. An idle one is closed after 4 s, before the server
   * closes it (uvicorn's keep-alive is 5 s), so a call never goes out on a socket being closed.
   */
  private readonly agent: HttpAgent;

  constructor(private readonly options: LiteLLMOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    const kept = { keepAlive: true, timeout: 4_000, maxSockets: 32 };
    this.agent = this.base.startsWith('https:') ? new HttpsAgent(kept) : new HttpAgent(kept);
  }

  newKey(): string {
    // LiteLLM requires custom keys to start with "sk-".
    return randomKey(this.options.keyPrefix ?? 'sk-kp-');
  }

  async generateKey(input: MintInput, signal?: AbortSignal): Promise<{ expiresAt?: string }> {
    const body = {
      key: input.key,
      key_alias: input.alias,
      models: [input.model],
      user_id: input.userId,
      metadata: { request_id: input.requestId, created_by: 'keyportal' },
      ...input.limits,
    };
    const res = await this.call('POST', '/key/generate', body, signal, [input.key], input.changedBy);
    if (res.status === 400 && res.error.param === 'key_alias' && /already exists/i.test(res.error.message)) {
      // LiteLLM upserts a repeated `key` silently but refuses a repeated alias. Our alias is
      // per request, so it is taken by our own key, minted by an earlier attempt or a rival.
      throw new KeyAlreadyExistsError();
    }
    this.expectOk(res, 'create the key');
    const parsed = generateResponseSchema.safeParse(res.json);
    if (!parsed.success) throw new GatewayUnavailableError('the gateway answered /key/generate without a key; will check again');
    return expiry(parsed.data.expires);
  }

  /** Asked by the key's SHA-256, which LiteLLM looks up as it does the key: the key never travels in a URL. */
  async keyInfo(keySha256: string, signal?: AbortSignal): Promise<KeyInfo | undefined> {
    const res = await this.call('GET', `/key/info?key=${keySha256}`, undefined, signal, []);
    if (res.status === 404 && isLiteLLMError(res)) return undefined;
    this.expectOk(res, 'look the key up');
    const parsed = infoResponseSchema.safeParse(res.json);
    if (!parsed.success) throw new GatewayUnavailableError('the gateway answered /key/info without the key\'s info; will check again');
    // Usage is read apart: a field of an odd type must not stop a mint from finding its key.
    const usage = liteLLMKeyInfoSchema.safeParse(parsed.data.info);
    return { ...expiry(parsed.data.info.expires), ...(usage.success ? { usage: usageFromLiteLLM(usage.data) } : {}) };
  }

  /**
   * POST /key/update `{key: <SHA-256 hex>, max_budget}`: LiteLLM takes a `key` not starting with
   * "sk-" as the hash, so the key itself never travels. An unknown key is LiteLLM's 401 "user key
   * does not exist in db" (get_data raises it before update_key_fn's own 404 is reached; both are
   * read as "no such key"); a 404 in FastAPI's shape is a wrong base URL, retried as deleteKey does.
   */
  async updateBudget(keySha256: string, change: BudgetChange, options: { signal?: AbortSignal; changedBy?: string } = {}): Promise<KeyInfo> {
    // Checked here because a raw key would travel in the body, and JSON turns NaN into null,
    // which LiteLLM reads as "no budget at all".
    if (!/^[0-9a-f]{64}$/.test(keySha256)) throw new RangeError('updateBudget takes the key\'s SHA-256 (64 hex digits), never the key');
    if (!Number.isFinite(change.maxBudget)) throw new RangeError('updateBudget takes a finite budget in USD');
    const res = await this.call('POST', '/key/update', { key: keySha256, max_budget: change.maxBudget }, options.signal, [], options.changedBy);
    const noSuchKey = res.error.liteLLM && (res.status === 404 || (res.status === 401 && /user key does not exist/i.test(res.error.message)));
    if (noSuchKey) throw new GatewayRefusedError(404, 'the gateway has no such key');
    if (res.status === 404) throw new GatewayUnavailableError(`the gateway answered HTTP 404 ${res.error.message || 'Not Found'} for POST /key/update: is gateway.baseUrl the LiteLLM proxy's own address?`);
    this.expectOk(res, 'change the key\'s budget');
    const row = updateResponseSchema.safeParse(res.json);
    const usage = liteLLMKeyInfoSchema.safeParse(res.json);
    if (row.success && typeof row.data.spend === 'number' && usage.success) {
      return { ...expiry(usage.data.expires), usage: usageFromLiteLLM(usage.data) };
    }
    // An older release answered only what changed (no spend), or an odd field: the update is
    // done either way, so ask for the whole row rather than report a spend of 0.
    const info = await this.keyInfo(keySha256, options.signal);
    if (!info) throw new GatewayRefusedError(404, 'the gateway has no such key');
    return info;
  }

  /**
   * GET /user/daily/activity for one user, `from` to `to`, every page. LiteLLM pages table rows
   * (one per key, model and day, newest day first), not days, and its `metadata` totals are the
   * page's: days and totals are therefore summed here across pages. Undefined when LiteLLM has
   * no such route (before v1.65.1: FastAPI's 404), and when it answered for other users too:
   * releases before the `user_id` filter ignore it and show the master key everyone's spend.
   */
  async spendReport(filter: SpendFilter, from: string, to: string, signal?: AbortSignal): Promise<SpendReport | undefined> {
    const { userId, model } = filter;
    if (!dayParam.safeParse(from).success || !dayParam.safeParse(to).success || from > to) throw new RangeError('spendReport takes two days, YYYY-MM-DD, the first not after the second');
    const days = new Map<string, SpendDay>();
    const who = [userId !== undefined ? `user_id=${encodeURIComponent(userId)}` : '', model !== undefined ? `model=${encodeURIComponent(model)}` : ''].filter(Boolean).join('&');
    const query = `${who ? `${who}&` : ''}start_date=${from}&end_date=${to}&page_size=${ACTIVITY_PAGE_SIZE}`;
    for (let page = 1; ; page++) {
      if (page > MAX_ACTIVITY_PAGES) throw new GatewayUnavailableError(`the gateway's daily activity ran past ${MAX_ACTIVITY_PAGES} pages; will ask again`);
      const res = await this.call('GET', `/user/daily/activity?${query}&page=${page}`, undefined, signal, []);
      if (res.status === 404 && !res.error.liteLLM) return undefined;
      this.expectOk(res, 'report spend');
      const parsed = activityResponseSchema.safeParse(res.json);
      if (!parsed.success) throw new GatewayUnavailableError('the gateway answered /user/daily/activity with an unexpected body; is it LiteLLM v1.65.1 or later?');
      for (const result of parsed.data.results) {
        const keys = Object.entries(result.breakdown?.api_keys ?? {});
        // A release that ignores user_id answers everyone's spend: unknown, never someone else's figures.
        const others = userId !== undefined && (Object.keys(result.breakdown?.entities ?? {}).some((u) => u !== userId) || keys.some(([, k]) => k.metadata?.user_id && k.metadata.user_id !== userId));
        if (others) return undefined;
        const day = days.get(result.date) ?? { date: result.date, spend: 0, byKey: {} };
        day.spend += result.metrics.spend;
        for (const [token, k] of keys) day.byKey[token] = (day.byKey[token] ?? 0) + k.metrics.spend;
        days.set(result.date, day);
      }
      const meta = parsed.data.metadata;
      const more = meta?.has_more ?? page < (meta?.total_pages ?? 0);
      if (!more || parsed.data.results.length === 0) break;
    }
    const sorted = [...days.values()].sort((a, b) => a.date.localeCompare(b.date));
    return { from, to, total: sorted.reduce((sum, d) => sum + d.spend, 0), days: sorted };
  }

  /** By alias: the portal never needs the key (or its hash) to take it away. */
  async deleteKey(alias: string, options: { signal?: AbortSignal; changedBy?: string } = {}): Promise<void> {
    const res = await this.call('POST', '/key/delete', { key_aliases: [alias] }, options.signal, [], options.changedBy);
    // Only LiteLLM's own "No keys found" means gone. Any other 404 (FastAPI's {"detail":"Not
    // Found"} from a wrong base URL or path prefix) leaves a key that may still work: retry.
    if (res.status === 404 && /no keys found/i.test(res.error.message)) return;
    if (res.status === 404) throw new GatewayUnavailableError(`the gateway answered HTTP 404 ${res.error.message || 'Not Found'} for POST /key/delete: is gateway.baseUrl the LiteLLM proxy's own address?`);
    this.expectOk(res, 'delete the key');
  }

  /**
   * GET /key/list?return_full_object=true, page by page (size 100, LiteLLM's ceiling; ordered by
   * created_at since v1.63). LiteLLM filters `key_alias` by equality (by substring in some
   * releases), never by prefix, so every key is read and the prefix is matched here.
   */
  async listKeys(aliasPrefix: string, signal?: AbortSignal): Promise<GatewayKey[]> {
    const found: GatewayKey[] = [];
    for (let page = 1; page <= MAX_LIST_PAGES; page++) {
      const res = await this.call('GET', `/key/list?page=${page}&size=${LIST_PAGE_SIZE}&return_full_object=true`, undefined, signal, []);
      this.expectOk(res, 'list keys');
      const parsed = listResponseSchema.safeParse(res.json);
      if (!parsed.success) throw new GatewayUnavailableError('the gateway answered /key/list with an unexpected body; is it LiteLLM v1.65.1 or later?');
      for (const k of parsed.data.keys) {
        if (!k.key_alias?.startsWith(aliasPrefix)) continue;
        const requestId = k.metadata?.request_id;
        found.push({ token: k.token, alias: k.key_alias, ...(typeof requestId === 'string' ? { requestId } : {}) });
      }
      const pages = parsed.data.total_pages ?? Number.POSITIVE_INFINITY;
      if (parsed.data.keys.length < LIST_PAGE_SIZE || page >= pages) break;
    }
    return found;
  }

  /** LiteLLM's liveness probe (health_endpoints/_health_endpoints.py): no model calls, no database. */
  async alive(signal?: AbortSignal): Promise<void> {
    const res = await this.call('GET', '/health/liveliness', undefined, signal, []);
    this.expectOk(res, 'say it is alive');
  }

  async listModels(signal?: AbortSignal): Promise<string[]> {
    const res = await this.call('GET', '/v1/models', undefined, signal, []);
    this.expectOk(res, 'list models');
    const parsed = modelsResponseSchema.safeParse(res.json);
    if (!parsed.success) throw new GatewayUnavailableError('the gateway answered /v1/models with an unexpected body');
    return parsed.data.data.map((m) => m.id);
  }

  private expectOk(res: CallResult, what: string): void {
    if (res.status >= 200 && res.status < 300) return;
    const detail = res.error.message ? `: ${res.error.message}` : '';
    // 401 is LiteLLM's answer to a wrong master key (and, in releases before November 2024, to an unknown key on
    // /key/info: checkSetup() tells the two apart at start-up). 403 is a refusal of what was
    // asked (a model outside the key's access groups): final, and not the master key's fault.
    if (res.status === 401) {
      throw new GatewayAuthError(`the gateway refused the master key (HTTP 401) when asked to ${what}; check GATEWAY_MASTER_KEY`);
    }
    if (res.status === 429 || res.status >= 500) throw new GatewayUnavailableError(`the gateway answered HTTP ${res.status} when asked to ${what}${detail}`);
    throw new GatewayRefusedError(res.status, `HTTP ${res.status} when asked to ${what}${detail}`);
  }

  /** One request. Network failures and timeouts throw GatewayUnavailableError; `redact` values never reach a message. */
  private async call(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal | undefined, redact: string[], changedBy?: string): Promise<CallResult> {
    const within = deadline(this.options.timeoutMs, signal);
    const endpoint = path.split('?')[0];
    let res: BufferedResponse;
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${this.options.masterKey}`, accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = 'application/json';
      // LiteLLM's audit log records this as the change's author.
      if (changedBy) headers['litellm-changed-by'] = changedBy;
      res = await sendBuffered(new URL(`${this.base}${path}`), { method, headers, agent: this.agent, signal: within.signal }, body === undefined ? undefined : JSON.stringify(body));
    } catch (err) {
      if (err instanceof BrokenOffError) throw new GatewayUnavailableError(`gateway ${this.base} broke off its answer (${method} ${endpoint}): ${failureCause(err)}`);
      const why = within.timedOut ? `no answer within ${this.options.timeoutMs} ms` : failureCause(err);
      throw new (within.timedOut || nothingAnswered(err) ? GatewayUnreachableError : GatewayUnavailableError)(`gateway ${this.base} unreachable (${method} ${endpoint}): ${why}`);
    } finally {
      within.release();
    }
    // Never followed: a gateway that moved is a setting to fix, not a place to send the master key after.
    if (res.status >= 300 && res.status < 400) {
      throw new GatewayUnavailableError(`gateway ${this.base} answered ${method} ${endpoint} with a redirect (HTTP ${res.status}); gateway.baseUrl must be the address that serves LiteLLM's API`);
    }
    const text = res.body.toString('utf8');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    const error = { message: '', param: undefined as string | undefined, liteLLM: false };
    const parsed = errorBodySchema.safeParse(json);
    const ok = res.status >= 200 && res.status < 300;
    if (!ok && parsed.success) {
      if ('error' in parsed.data) {
        error.liteLLM = true;
        error.message = String(typeof parsed.data.error.message === 'string' ? parsed.data.error.message : JSON.stringify(parsed.data.error.message));
        error.param = parsed.data.error.param ?? undefined;
      } else {
        error.message = JSON.stringify(parsed.data.detail);
      }
    }
    const secrets = [this.options.masterKey, ...redact].filter(Boolean);
    for (const s of secrets) error.message = error.message.split(s).join('[redacted]');
    error.message = error.message.slice(0, 300);
    return { status: res.status, json, error };
  }
}

interface CallResult {
  status: number;
  json: unknown;
  /** `liteLLM`: the body was LiteLLM's own error shape, not a proxy's or FastAPI's routing answer. */
  error: { message: string; param?: string; liteLLM: boolean };
}

/** LiteLLM's own "no such key", as opposed to a 404 from something in front of it or a wrong path. */
const isLiteLLMError = (res: CallResult): boolean => res.error.liteLLM;

function expiry(expires: string | null | undefined): { expiresAt?: string } {
  const at = expires ? new Date(expires) : undefined;
  return at && !Number.isNaN(at.getTime()) ? { expiresAt: rfc3339(at) } : {};
}

