// The test gateway's key table and the admin endpoints that read it in bulk, answering as LiteLLM
// v1.110 does (litellm/proxy/management_endpoints/key_management_endpoints.py `list_keys`).

/** A key row as LiteLLM stores it (LiteLLM_VerificationToken), with the raw key kept for the tests. */
export interface StoredKey {
  key: string;
  token: string;
  key_alias: string | null;
  models: string[];
  user_id: string | null;
  metadata: Record<string, unknown>;
  max_budget: number | null;
  budget_duration: string | null;
  rpm_limit: number | null;
  tpm_limit: number | null;
  team_id: string | null;
  key_type: string | null;
  expires: string | null;
  budget_reset_at: string | null;
  spend: number;
  created_at: string;
  /** Other LiteLLM_VerificationToken columns a /key/update set (blocked, aliases, soft_budget, ...), as given. */
  columns?: Record<string, unknown>;
}

/**
 * Whether a key other than `except` holds `alias` (LiteLLM's `_enforce_unique_key_alias`). A
 * plain loop: the bench mints thousands of keys, and copying the table for each was a share of
 * its own CPU that the portal's figures then paid for on a shared machine.
 */
export function aliasTaken(keys: ReadonlyMap<string, StoredKey>, alias: string, except?: string): boolean {
  for (const k of keys.values()) if (k.key_alias === alias && k.token !== except) return true;
  return false;
}

export interface Answer {
  status: number;
  body: unknown;
}

/** FastAPI's 422 for a query parameter that fails its bounds. */
function invalid(name: string, type: string, msg: string, input: string): Answer {
  return { status: 422, body: { detail: [{ type, loc: ['query', name], msg, input }] } };
}

/** FastAPI's int parsing of a query parameter with `ge`/`le` bounds. */
export function intParam(params: URLSearchParams, name: string, fallback: number, min: number, max?: number): number | Answer {
  const raw = params.get(name);
  if (raw === null) return fallback;
  if (!/^-?\d+$/.test(raw.trim())) return invalid(name, 'int_parsing', 'Input should be a valid integer, unable to parse string as an integer', raw);
  const n = Number(raw);
  if (n < min) return invalid(name, 'greater_than_equal', `Input should be greater than or equal to ${min}`, raw);
  if (max !== undefined && n > max) return invalid(name, 'less_than_equal', `Input should be less than or equal to ${max}`, raw);
  return n;
}

/** Pydantic's bool parsing of a query string. */
function boolParam(params: URLSearchParams, name: string): boolean | Answer {
  const raw = params.get(name);
  if (raw === null) return false;
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on', 'y', 't'].includes(v)) return true;
  if (['false', '0', 'no', 'off', 'n', 'f'].includes(v)) return false;
  return invalid(name, 'bool_parsing', 'Input should be a valid boolean, unable to interpret input', raw);
}

/** The row as /key/list returns it with return_full_object=true: everything but the raw key. */
export function fullObject(k: StoredKey): Record<string, unknown> {
  const { key, columns, ...row } = k;
  return { ...row, key_name: `sk-...${key.slice(-4)}`, blocked: null, aliases: {}, config: {}, permissions: {}, max_parallel_requests: null, ...columns };
}

/**
 * GET /key/list: `page` (≥ 1, default 1), `size` (1 to 100, default 10), exact filters
 * `user_id`, `team_id`, `key_hash` and `key_alias` (a substring, case-insensitive, only with
 * `substring_matching=true`), `return_full_object`. Ordered by created_at, newest first, then by
 * token. `keys` holds hashed tokens, or the rows without the raw key; a page past the end is an
 * empty page with the real totals. Unknown parameters are ignored (since v1.61.7).
 */
export function listKeys(keys: ReadonlyMap<string, StoredKey>, params: URLSearchParams): Answer {
  const page = intParam(params, 'page', 1, 1);
  if (typeof page !== 'number') return page;
  const size = intParam(params, 'size', 10, 1, 100);
  if (typeof size !== 'number') return size;
  const full = boolParam(params, 'return_full_object');
  if (typeof full !== 'boolean') return full;
  const substring = boolParam(params, 'substring_matching');
  if (typeof substring !== 'boolean') return substring;
  const alias = params.get('key_alias');
  const exact: Array<[string | null, (k: StoredKey) => string | null]> = [
    [params.get('user_id'), (k) => k.user_id],
    [params.get('team_id'), (k) => k.team_id],
    [params.get('key_hash'), (k) => k.token],
  ];
  const rows = [...keys.values()]
    .filter((k) => exact.every(([want, field]) => want === null || field(k) === want))
    .filter((k) => alias === null || (substring ? (k.key_alias ?? '').toLowerCase().includes(alias.toLowerCase()) : k.key_alias === alias))
    .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.token.localeCompare(a.token));
  const slice = rows.slice((page - 1) * size, page * size);
  return {
    status: 200,
    body: {
      keys: full ? slice.map(fullObject) : slice.map((k) => k.token),
      total_count: rows.length,
      current_page: page,
      total_pages: Math.ceil(rows.length / size),
    },
  };
}
