import { createHash, randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { DailySpend } from './litellm-activity';
import { type StoredKey, aliasTaken, listKeys } from './litellm-keys';
import { liteLLMBudgetResetAt, liteLLMDurationEnd } from './litellm-time';
import { updateKey } from './litellm-update';
import { Listener } from './listener';

export { liteLLMBudgetResetAt, liteLLMDurationEnd } from './litellm-time';

/**
 * A LiteLLM-compatible admin API on 127.0.0.1, following LiteLLM's own code
 * (litellm/proxy/management_endpoints/key_management_endpoints.py, proxy/_types.py):
 * - the master key in `Authorization: Bearer` (or `x-litellm-api-key`), else 401;
 * - POST /key/generate: typed fields validated like pydantic (422 `{"detail": [...]}`), a custom
 *   key must start with "sk-" (400), a repeated key_alias is refused (400, param key_alias), a
 *   repeated key is silently kept as it was (LiteLLM upserts with an empty update);
 * - unknown body fields are ignored, as LiteLLM's pydantic models do (extra="ignore"); they are
 *   recorded in `ignoredFields`, so a test can prove the client sends none;
 * - GET /key/info (404 "Key not found in database"), POST /key/delete (404 "No keys found"),
 *   GET /key/list (paged, as trial/litellm-keys.ts says), GET /v1/models;
 * - POST /key/update (trial/litellm-update.ts): the key or its hash in `key`, fields validated
 *   like pydantic (422), `max_budget` < 0 a 400, an unknown key LiteLLM's 401 "user key does not
 *   exist in db", the answer `{"key": <as passed>, ...the updated row}`;
 * - GET /user/daily/activity (trial/litellm-activity.ts): one user's spend per UTC day, by key,
 *   model and provider, paged by table rows as LiteLLM pages them;
 * - errors as `{"error": {"message", "type", "param", "code"}}` with `code` a string, FastAPI's
 *   own as `{"detail": ...}`.
 * It can be told to fail: `failNext(n, status)`, `hangNext(n)`, `stop()` / `start()` for down
 * (every admin route alike). Spend: `addSpend()` bills a request's key on a day, as LiteLLM's
 * spend tracking does after a completion (the key's running total and its daily row);
 * `setSpend()` sets the running total, billing today with any increase; POST /key/update
 * `{key, spend}` sets the total alone, as it does in LiteLLM (no daily row).
 */
export type { StoredKey } from './litellm-keys';

const KNOWN_FIELDS: Record<string, 'str' | 'float' | 'int' | 'list' | 'dict'> = {
  key: 'str',
  key_alias: 'str',
  duration: 'str',
  models: 'list',
  spend: 'float',
  max_budget: 'float',
  user_id: 'str',
  team_id: 'str',
  max_parallel_requests: 'int',
  metadata: 'dict',
  tpm_limit: 'int',
  rpm_limit: 'int',
  budget_duration: 'str',
  soft_budget: 'float',
  tags: 'list',
  key_type: 'str',
};

export interface GatewayOptions {
  /** Where it listens: loopback unless a trial runs it as a pod. */
  host?: string;
  /** A fixed port (a trial's Service points at it); 0 picks a free one. */
  port?: number;
  /** Serve https with this key and certificate (a trial's, signed by its CA). */
  tls?: { key: string; cert: string };
  /** What GET /v1/models lists (the catalog's ids in a trial). */
  models?: readonly string[];
  /**
   * Tests in another process (Playwright workers) bill spend as completions would:
   * `POST /_test/spend {token, usd, date?}` with the master key. Off unless asked (never in a trial).
   */
  testControls?: boolean;
}

export class TestGateway {
  readonly keys = new Map<string, StoredKey>();
  readonly ignoredFields: string[] = [];
  generateCalls = 0;
  /** POST /key/update calls that reached the route, and their bodies as parsed (or the raw text). */
  updateCalls = 0;
  readonly updateBodies: unknown[] = [];
  /** GET /user/daily/activity calls that reached the route. */
  activityCalls = 0;
  /** Requests as they came (method, path and query): a test can prove no key went into a URL. */
  readonly requestLog: string[] = [];
  /** Changed-by headers received, in order. */
  readonly changedBy: string[] = [];
  /** Model ids that a model access-group check refuses (403), as LiteLLM's team/model checks do. */
  readonly forbiddenModels = new Set<string>();
  /** Behave like LiteLLM before Nov 2024: an unknown key on /key/info is a 401, not a 404. */
  legacyUnknownKey401 = false;
  /** Mount the admin routes under this prefix, as a proxy in front of LiteLLM might: anything else is FastAPI's 404. */
  routePrefix = '';
  /** Behave like LiteLLM releases before 2025: /key/update answers only the fields it changed (and `token`), not the row. */
  legacyUpdateAnswer = false;
  /** Every /key/update is refused for good (400, LiteLLM's shape), as a change LiteLLM will not make is (a team's limits, an enterprise-only field). */
  refuseUpdates = false;
  /** Behave like LiteLLM before v1.65.1: no GET /user/daily/activity (FastAPI's 404). */
  withoutDailyActivity = false;
  /** Behave like the releases whose /user/daily/activity had no user_id filter: the master key sees every user's spend. */
  activityIgnoresUserId = false;
  /** LiteLLM_DailyUserSpend: what addSpend() and setSpend() billed, per user, key, model and day. */
  readonly dailySpend = new DailySpend();
  private failures: number[] = [];
  private hangs = 0;
  private losses = 0;
  private readonly listener: Listener;

  constructor(
    readonly masterKey: string,
    private readonly options: GatewayOptions = {},
  ) {
    this.listener = new Listener(options.port ?? 0, options.host ?? '127.0.0.1');
  }

  get url(): string {
    return `${this.options.tls ? 'https' : 'http'}://${this.listener.host}:${this.listener.port}`;
  }

  /** Listens on 127.0.0.1; after stop(), on the same port again. */
  start(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    return this.listener.start(this.options.tls ? createTlsServer(this.options.tls, handler) : createServer(handler));
  }

  /** Gone from the network: connections are refused until start(). */
  stop(): Promise<void> {
    return this.listener.stop();
  }

  /** The next `n` admin calls answer `status` (500 by default). */
  failNext(n: number, status = 500): void {
    this.failures.push(...Array.from({ length: n }, () => status));
  }

  /** The next `n` admin calls never answer. */
  hangNext(n: number): void {
    this.hangs += n;
  }

  /** The next `n` generate calls store the key, then drop the connection before answering. */
  loseAnswerNext(n: number): void {
    this.losses += n;
  }

  /**
   * Sets the running total (USD, this budget period) of a request's keys, billing today with any
   * increase. A lower total is a budget reset, as LiteLLM's reset job does it: the daily rows
   * keep what was spent. Throws if the request has no key.
   */
  setSpend(requestId: string, spend: number, now: Date = new Date()): void {
    const keys = this.keysFor(requestId);
    if (keys.length === 0) throw new Error(`the test gateway has no key for request ${requestId}`);
    for (const k of keys) {
      if (spend > k.spend) this.dailySpend.record(k, spend - k.spend, now);
      k.spend = spend;
    }
  }

  /**
   * Bills `usd` to a request's newest key on `day` (UTC; today by default), as LiteLLM does after
   * a completion: the key's running `spend` grows and the day's row for its user, key and model
   * with it. Throws if the request has no key or `usd` is not a finite amount ≥ 0.
   */
  addSpend(requestId: string, usd: number, day: Date = new Date()): void {
    if (!Number.isFinite(usd) || usd < 0) throw new Error(`the test gateway bills finite amounts ≥ 0, not ${usd}`);
    const [key] = this.keysFor(requestId).sort((a, b) => b.created_at.localeCompare(a.created_at));
    if (!key) throw new Error(`the test gateway has no key for request ${requestId}`);
    key.spend += usd;
    this.dailySpend.record(key, usd, day);
  }

  /** The test control behind POST /_test/spend: bills a key (by its hash) on a day, as addSpend() does. */
  private billByHash(body: string, send: (status: number, payload: unknown) => void): void {
    const parsed = safeJson(body) as { token?: unknown; usd?: unknown; date?: unknown } | undefined;
    const key = typeof parsed?.token === 'string' ? this.keys.get(parsed.token) : undefined;
    const usd = parsed?.usd;
    if (!key || typeof usd !== 'number' || !Number.isFinite(usd) || usd < 0) return send(400, { error: 'expected {token: <a key hash it has>, usd: <amount ≥ 0>, date?: <YYYY-MM-DD>}' });
    const day = typeof parsed?.date === 'string' ? new Date(`${parsed.date}T12:00:00Z`) : new Date();
    key.spend += usd;
    this.dailySpend.record(key, usd, day);
    send(200, { token: key.token, spend: key.spend });
  }

  /** How many GET /key/info calls arrived: a test can prove a cache answered instead. */
  get infoCalls(): number {
    return this.requestLog.filter((l) => l.startsWith('GET /key/info')).length;
  }

  /** Keys minted for one request (by the metadata LiteLLM stores). */
  keysFor(requestId: string): StoredKey[] {
    return [...this.keys.values()].filter((k) => k.metadata.request_id === requestId);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requestLog.push(`${req.method} ${url.pathname}${url.search}`);
    const changedBy = req.headers['litellm-changed-by'];
    if (typeof changedBy === 'string') this.changedBy.push(changedBy);
    if (this.routePrefix) {
      if (!url.pathname.startsWith(this.routePrefix)) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ detail: 'Not Found' }));
      }
      url.pathname = url.pathname.slice(this.routePrefix.length) || '/';
    }
    const body = await new Promise<string>((resolve) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString('utf8')));
      req.on('end', () => resolve(data));
    });
    const send = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    const error = (status: number, message: string, type: string, param: string | null = null) =>
      send(status, { error: { message, type, param: param ?? 'None', code: String(status) } });

    const auth = (req.headers['x-litellm-api-key'] as string | undefined) ?? req.headers.authorization;
    if (!auth) return error(401, 'Authentication Error, No api key passed in.', 'auth_error');
    const token = auth.replace(/^Bearer /i, '');
    if (!auth.startsWith('Bearer ') && !req.headers['x-litellm-api-key']) {
      return error(401, 'Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix.', 'auth_error');
    }
    if (token !== this.masterKey) return error(401, 'Authentication Error, Invalid proxy server token passed.', 'token_not_found_in_db', 'key');

    if (this.hangs > 0) {
      this.hangs--;
      return; // never answers; the client's timeout must fire
    }
    const failure = this.failures.shift();
    if (failure) return error(failure, 'Internal Server Error (injected by the test)', 'internal_server_error');

    if (this.options.testControls && req.method === 'POST' && url.pathname === '/_test/spend') return this.billByHash(body, send);
    if (req.method === 'GET' && (url.pathname === '/health/liveliness' || url.pathname === '/health/liveness')) return send(200, 'I\'m alive!');
    if (req.method === 'POST' && url.pathname === '/key/generate') return this.generate(body, req, res, send, error);
    if (req.method === 'GET' && url.pathname === '/key/info') {
      // proxy/utils.py get_data: a token starting with "sk-" is hashed first; anything else is
      // taken as the hash already, so the SHA-256 hex finds the key as well as the key does.
      const asked = url.searchParams.get('key') ?? '';
      const found = this.keys.get(asked.startsWith('sk-') ? hash(asked) : asked);
      if (!found) {
        if (this.legacyUnknownKey401) return error(401, 'Authentication Error, Invalid proxy server token passed. key=None', 'auth_error', 'None');
        return error(404, 'Key not found in database', 'not_found_error', 'key');
      }
      // The stored row without the raw key, computed afresh for every call.
      const { key: _k, token: _t, columns, ...info } = found;
      return send(200, { key: asked, info: { ...info, ...columns, token: found.token } });
    }
    if (req.method === 'GET' && url.pathname === '/key/list') {
      const answer = listKeys(this.keys, url.searchParams);
      return send(answer.status, answer.body);
    }
    if (req.method === 'POST' && url.pathname === '/key/update') {
      this.updateCalls++;
      this.updateBodies.push(safeJson(body) ?? body);
      if (this.refuseUpdates) return error(400, "{'error': 'this key cannot be updated (refused by the test)'}", 'auth_error');
      const answer = updateKey(body, String(req.headers['content-type'] ?? ''), { keys: this.keys, ignoredFields: this.ignoredFields, now: new Date(), legacyAnswer: this.legacyUpdateAnswer });
      return send(answer.status, answer.body);
    }
    if (req.method === 'GET' && url.pathname === '/user/daily/activity' && !this.withoutDailyActivity) {
      this.activityCalls++;
      const answer = this.dailySpend.activity(url.searchParams, this.keys, this.activityIgnoresUserId);
      return send(answer.status, answer.body);
    }
    if (req.method === 'POST' && url.pathname === '/key/delete') {
      const parsed = safeJson(body) as { keys?: unknown; key_aliases?: unknown } | undefined;
      const keys = Array.isArray(parsed?.keys) ? parsed.keys.map(String) : [];
      const aliases = Array.isArray(parsed?.key_aliases) ? parsed.key_aliases.map(String) : [];
      if (keys.length === 0 && aliases.length === 0) {
        return send(422, { detail: [{ type: 'value_error', loc: ['body'], msg: "At least one of 'keys' or 'key_aliases' must be provided." }] });
      }
      const tokens = new Set(keys.map((k) => (k.startsWith('sk-') ? hash(k) : k)));
      const existing = [...this.keys.values()].filter((k) => tokens.has(k.token) || (k.key_alias !== null && aliases.includes(k.key_alias)));
      if (existing.length === 0) return error(404, "{'error': 'No keys found'}", 'internal_server_error');
      for (const k of existing) this.keys.delete(k.token);
      return send(200, { deleted_keys: [...keys, ...aliases] });
    }
    if (req.method === 'GET' && (url.pathname === '/v1/models' || url.pathname === '/models')) {
      const ids = this.options.models ?? ['gpt-4o', 'gpt-4o-mini', 'anthropic/claude-3'];
      return send(200, { data: ids.map((id) => ({ id, object: 'model', created: 1677610602, owned_by: 'openai' })), object: 'list' });
    }
    return send(404, { detail: 'Not Found' });
  }

  private generate(
    body: string,
    req: IncomingMessage,
    res: ServerResponse,
    send: (status: number, payload: unknown) => void,
    error: (status: number, message: string, type: string, param?: string | null) => void,
  ): void {
    this.generateCalls++;
    if (!String(req.headers['content-type'] ?? '').includes('application/json')) {
      return send(422, { detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from' }] });
    }
    const data = safeJson(body);
    if (!data || typeof data !== 'object' || Array.isArray(data)) {
      return send(422, { detail: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error' }] });
    }
    const fields = data as Record<string, unknown>;
    const detail: unknown[] = [];
    for (const [name, value] of Object.entries(fields)) {
      const kind = KNOWN_FIELDS[name];
      if (!kind) {
        this.ignoredFields.push(name);
        continue;
      }
      if (value === null) continue;
      const ok =
        (kind === 'str' && typeof value === 'string') ||
        (kind === 'float' && typeof value === 'number') ||
        (kind === 'int' && Number.isInteger(value)) ||
        (kind === 'list' && Array.isArray(value)) ||
        (kind === 'dict' && typeof value === 'object' && !Array.isArray(value));
      if (!ok) detail.push({ type: `${kind}_type`, loc: ['body', name], msg: `Input should be a valid ${kind}`, input: value });
    }
    if (detail.length) return send(422, { detail });

    const key = (fields.key as string | undefined) ?? `sk-${randomUUID().replace(/-/g, '')}`;
    if (!key.startsWith('sk-')) {
      return error(400, `{'error': "Invalid key format. LiteLLM Virtual Key must start with 'sk-'. Received: ${key.slice(0, 4)}****${key.slice(-4)}"}`, 'internal_server_error');
    }
    if (typeof fields.max_budget === 'number' && fields.max_budget < 0) {
      return error(400, `{'error': 'max_budget cannot be negative. Received: ${fields.max_budget}'}`, 'internal_server_error');
    }
    const models = (fields.models as string[] | undefined) ?? [];
    const forbidden = models.find((m) => this.forbiddenModels.has(m));
    if (forbidden) return error(403, `Key not allowed to access model. This key can only access models=[]. Tried to access ${forbidden}`, 'key_model_access_denied', 'model');
    const now = new Date();
    let expires: string | null = null;
    if (typeof fields.duration === 'string') {
      const end = liteLLMDurationEnd(fields.duration, now);
      if (!end) return error(500, `Unsupported duration unit, passed duration: ${fields.duration}`, 'internal_server_error');
      expires = end.toISOString();
    }
    let budgetResetAt: string | null = null;
    if (typeof fields.budget_duration === 'string') {
      const reset = liteLLMBudgetResetAt(fields.budget_duration, now);
      if (!reset) return error(500, `Unsupported duration unit, passed duration: ${fields.budget_duration}`, 'internal_server_error');
      budgetResetAt = reset.toISOString();
    }
    const alias = (fields.key_alias as string | undefined) ?? null;
    const h = hash(key);
    // key_management_endpoints.py _enforce_unique_key_alias: an alias in use by any key (this
    // very key included, on a repeated call) is refused.
    if (alias && aliasTaken(this.keys, alias)) {
      return error(400, `Key with alias '${alias}' already exists. Unique key aliases across all keys are required.`, 'bad_request_error', 'key_alias');
    }
    const row: StoredKey = {
      key,
      token: h,
      key_alias: alias,
      models: (fields.models as string[] | undefined) ?? [],
      user_id: (fields.user_id as string | undefined) ?? null,
      metadata: (fields.metadata as Record<string, unknown> | undefined) ?? {},
      max_budget: (fields.max_budget as number | undefined) ?? null,
      budget_duration: (fields.budget_duration as string | undefined) ?? null,
      rpm_limit: (fields.rpm_limit as number | undefined) ?? null,
      tpm_limit: (fields.tpm_limit as number | undefined) ?? null,
      team_id: (fields.team_id as string | undefined) ?? null,
      key_type: (fields.key_type as string | undefined) ?? null,
      expires,
      budget_reset_at: budgetResetAt,
      spend: 0,
      created_at: now.toISOString(),
    };
    // LiteLLM upserts on the hashed token with an empty update: a repeated key keeps its row.
    if (!this.keys.has(h)) this.keys.set(h, row);
    if (this.losses > 0) {
      // Stored, but the answer never reaches the client (a timeout, a dropped connection).
      this.losses--;
      return void res.destroy();
    }
    const stored = this.keys.get(h) as StoredKey;
    const { token: _t, ...rest } = stored;
    send(200, { ...rest, key, key_name: `sk-...${key.slice(-4)}`, token: h, token_id: h, duration: null });
  }
}

function hash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
