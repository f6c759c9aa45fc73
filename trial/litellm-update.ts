// POST /key/update for the test gateway, answering as LiteLLM does
// (litellm/proxy/management_endpoints/key_management_endpoints.py `update_key_fn` and
// `prepare_key_update_data`, proxy/utils.py `PrismaClient.get_data` / `update_data`).

import { createHash } from 'node:crypto';
import { type Answer, type StoredKey, aliasTaken, fullObject } from './litellm-keys';
import { liteLLMBudgetResetAt, liteLLMDurationEnd } from './litellm-time';

type Kind = 'str' | 'float' | 'int' | 'bool' | 'list' | 'dict' | 'datetime';

/** UpdateKeyRequest's fields that the double knows, with their pydantic types; anything else is ignored (extra="ignore"). */
const FIELDS: Record<string, Kind> = {
  key: 'str',
  key_alias: 'str',
  user_id: 'str',
  team_id: 'str',
  budget_id: 'str',
  models: 'list',
  tags: 'list',
  guardrails: 'list',
  enforced_params: 'list',
  allowed_cache_controls: 'list',
  spend: 'float',
  max_budget: 'float',
  soft_budget: 'float',
  temp_budget_increase: 'float',
  temp_budget_expiry: 'datetime',
  budget_duration: 'str',
  duration: 'str',
  max_parallel_requests: 'int',
  tpm_limit: 'int',
  rpm_limit: 'int',
  metadata: 'dict',
  aliases: 'dict',
  config: 'dict',
  permissions: 'dict',
  model_max_budget: 'dict',
  model_rpm_limit: 'dict',
  model_tpm_limit: 'dict',
  blocked: 'bool',
};

/** proxy/_types.py LiteLLM_ManagementEndpoint_MetadataFields: kept inside `metadata`, not as columns. */
const METADATA_FIELDS = new Set(['model_rpm_limit', 'model_tpm_limit', 'guardrails', 'tags', 'enforced_params', 'temp_budget_increase', 'temp_budget_expiry']);

/** Columns that the double's key row holds itself; other known columns go to `columns`. */
const ROW_COLUMNS = new Set(['key_alias', 'user_id', 'team_id', 'models', 'spend', 'max_budget', 'rpm_limit', 'tpm_limit']);

/** Row columns that may be NULL: an explicit null clears them (prepare_key_update_data dumps with exclude_unset, not exclude_none). */
const NULLABLE = new Set(['key_alias', 'user_id', 'team_id', 'max_budget', 'rpm_limit', 'tpm_limit']);

export interface UpdateContext {
  keys: Map<string, StoredKey>;
  /** Unknown body fields are recorded here, as /key/generate records them. */
  ignoredFields: string[];
  now: Date;
  /** Answer as LiteLLM releases before 2025 did: only the fields the call changed, plus `token`. */
  legacyAnswer: boolean;
}

/** ProxyException's body: `code` is a string; `param` is the string "None" when there is none. */
function proxyError(status: number, message: string, type = 'auth_error', param = 'None'): Answer {
  return { status, body: { error: { message, type, param, code: String(status) } } };
}

/** Python's str() of a float: `-1.0`, `2.5`. */
const pyFloat = (n: number): string => (Number.isInteger(n) ? `${n}.0` : String(n));

/**
 * Pydantic v2's lax coercion of one JSON value to `kind`: numeric strings are numbers, "true"
 * is a boolean, an int may not carry a fraction. Returns the value, or the error FastAPI lists.
 */
function coerce(kind: Kind, value: unknown): { value: unknown } | { type: string; msg: string } {
  const numeric = typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : undefined;
  switch (kind) {
    case 'str':
      return typeof value === 'string' ? { value } : { type: 'string_type', msg: 'Input should be a valid string' };
    case 'float':
      if (typeof value === 'number') return { value };
      if (numeric !== undefined) return { value: numeric };
      return typeof value === 'string'
        ? { type: 'float_parsing', msg: 'Input should be a valid number, unable to parse string as a number' }
        : { type: 'float_type', msg: 'Input should be a valid number' };
    case 'int': {
      const n = typeof value === 'number' ? value : numeric;
      if (n !== undefined && Number.isInteger(n)) return { value: n };
      if (typeof value === 'number') return { type: 'int_from_float', msg: 'Input should be a valid integer, got a number with a fractional part' };
      return typeof value === 'string'
        ? { type: 'int_parsing', msg: 'Input should be a valid integer, unable to parse string as an integer' }
        : { type: 'int_type', msg: 'Input should be a valid integer' };
    }
    case 'bool': {
      if (typeof value === 'boolean') return { value };
      if (value === 0 || value === 1) return { value: value === 1 };
      const v = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
      if (v && ['true', '1', 'yes', 'on', 'y', 't'].includes(v)) return { value: true };
      if (v && ['false', '0', 'no', 'off', 'n', 'f'].includes(v)) return { value: false };
      return typeof value === 'string'
        ? { type: 'bool_parsing', msg: 'Input should be a valid boolean, unable to interpret input' }
        : { type: 'bool_type', msg: 'Input should be a valid boolean' };
    }
    case 'list':
      return Array.isArray(value) ? { value } : { type: 'list_type', msg: 'Input should be a valid list' };
    case 'dict':
      return value !== null && typeof value === 'object' && !Array.isArray(value) ? { value } : { type: 'dict_type', msg: 'Input should be a valid dictionary' };
    case 'datetime':
      return typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? { value } : { type: 'datetime_parsing', msg: 'Input should be a valid datetime' };
  }
}

/**
 * POST /key/update. The body's `key` is the key or its SHA-256 hex (a value starting with "sk-" is
 * hashed first). Fields are validated as pydantic does (422), then:
 * - `max_budget` < 0 is a 400 before anything is looked up;
 * - an unknown key is a 401 "invalid user key - user key does not exist in db": get_data raises
 *   it (after its backoff retries) before update_key_fn's own 404 ("Team not found, passed
 *   team_id=None") can be reached, and update_key_fn re-raises it as a ProxyException;
 * - `duration` sets `expires` ("-1": never), `budget_duration` sets `budget_reset_at`; the
 *   metadata fields (tags, temp_budget_increase, ...) are written into `metadata`, and a given
 *   `metadata` replaces the old one whole;
 * - an explicit null clears a nullable column (max_budget: null is "no budget"): LiteLLM dumps
 *   the request with exclude_unset, not exclude_none;
 * - the answer is `{"key": <as passed>, ...the updated row}` (update_data's model_dump), the
 *   row carrying `token` but never the key.
 * Setting `spend` sets the running total only: like LiteLLM, it writes no daily spend row.
 */
export function updateKey(body: string, contentType: string, ctx: UpdateContext): Answer {
  if (!contentType.includes('application/json')) {
    return { status: 422, body: { detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: body }] } };
  }
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return { status: 422, body: { detail: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {} }] } };
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    return { status: 422, body: { detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: data }] } };
  }
  const given = data as Record<string, unknown>;
  const fields: Record<string, unknown> = {};
  const detail: unknown[] = [];
  for (const [name, value] of Object.entries(given)) {
    const kind = FIELDS[name];
    if (!kind) {
      ctx.ignoredFields.push(name);
      continue;
    }
    if (value === null) {
      fields[name] = null;
      continue;
    }
    const parsed = coerce(kind, value);
    if ('value' in parsed) fields[name] = parsed.value;
    else detail.push({ ...parsed, loc: ['body', name], input: value });
  }
  if (typeof fields.key !== 'string' && !detail.some((d) => (d as { loc: string[] }).loc[1] === 'key')) {
    detail.unshift({ type: 'missing', loc: ['body', 'key'], msg: 'Field required', input: given });
  }
  if (detail.length) return { status: 422, body: { detail } };

  const asked = fields.key as string;
  if (typeof fields.max_budget === 'number' && fields.max_budget < 0) {
    return proxyError(400, `{'error': 'max_budget cannot be negative. Received: ${pyFloat(fields.max_budget)}'}`);
  }
  const found = ctx.keys.get(asked.startsWith('sk-') ? createHash('sha256').update(asked).digest('hex') : asked);
  if (!found) return proxyError(401, `Authentication Error: invalid user key - user key does not exist in db. User Key=${asked}`);

  const alias = fields.key_alias;
  if (typeof alias === 'string' && aliasTaken(ctx.keys, alias, found.token)) {
    return proxyError(400, `Key with alias '${alias}' already exists. Unique key aliases across all keys are required.`, 'bad_request_error', 'key_alias');
  }

  // Computed before anything is written, so a refused duration leaves the row as it was.
  const changed: Record<string, unknown> = {};
  if (typeof fields.duration === 'string') {
    const end = fields.duration === '-1' ? null : liteLLMDurationEnd(fields.duration, ctx.now);
    // duration_in_seconds raises ValueError, which update_key_fn answers as a 400.
    if (end === undefined) return proxyError(400, `Authentication Error, Unsupported duration unit, passed duration: ${fields.duration}`);
    changed.expires = end ? end.toISOString() : null;
  }
  if (typeof fields.budget_duration === 'string' && fields.budget_duration !== '') {
    const reset = liteLLMBudgetResetAt(fields.budget_duration, ctx.now);
    if (!reset) return proxyError(400, `Authentication Error, Unsupported duration unit, passed duration: ${fields.budget_duration}`);
    changed.budget_reset_at = reset.toISOString();
    changed.budget_duration = fields.budget_duration;
  }
  // prepare_metadata_fields: a given metadata replaces the old one (request_id included); none
  // given keeps it. A null (LiteLLM stores None) keeps it too: the double's rows always hold an object.
  const metadata = { ...((fields.metadata as Record<string, unknown> | null | undefined) ?? found.metadata) };
  const columns: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (name === 'key' || name === 'duration' || name === 'budget_duration' || name === 'metadata') continue;
    if (METADATA_FIELDS.has(name)) {
      if (value !== null) metadata[name] = value;
    } else if (ROW_COLUMNS.has(name)) {
      // A null on a NOT NULL column (spend, models) would fail in Prisma; the double leaves it.
      if (value !== null || NULLABLE.has(name)) changed[name] = value;
    } else {
      columns[name] = value;
    }
  }
  changed.metadata = metadata;
  Object.assign(found, changed);
  if (Object.keys(columns).length) found.columns = { ...found.columns, ...columns };

  if (ctx.legacyAnswer) return { status: 200, body: { key: asked, ...changed, ...columns, token: found.token } };
  return { status: 200, body: { key: asked, ...fullObject(found), updated_at: ctx.now.toISOString() } };
}
