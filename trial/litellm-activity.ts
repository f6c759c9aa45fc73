// The test gateway's daily spend table and GET /user/daily/activity, answering as LiteLLM does
// (litellm/proxy/management_endpoints/internal_user_endpoints.py `get_user_daily_activity`,
// common_daily_activity.py `get_daily_activity`, and the response types in
// litellm/types/proxy/management_endpoints/common_daily_activity.py).

import { randomUUID } from 'node:crypto';
import { type Answer, type StoredKey, intParam } from './litellm-keys';

/** One LiteLLM_DailyUserSpend row: one user's spend through one key and model on one UTC day. */
interface DailyRow {
  /** A UUID, as LiteLLM's; pages are ordered by date (newest first), then by id. */
  id: string;
  user_id: string | null;
  date: string;
  api_key: string;
  model: string;
  custom_llm_provider: string;
  spend: number;
  api_requests: number;
  /** The key's alias and team when billed: LiteLLM finds them in its deleted-keys table once the key is gone. */
  key_alias: string | null;
  team_id: string | null;
}

/** SpendMetrics as LiteLLM serialises it: every field present, tokens 0 (the double bills USD only). */
function emptyMetrics(): Record<string, number> {
  return {
    spend: 0,
    flat_cost: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0,
    compression_saved_tokens: 0,
    compression_savings_spend: 0,
    prompt_caching_savings_spend: 0,
    gateway_injected_caching_savings_spend: 0,
    autorouter_savings_spend: 0,
    total_tokens: 0,
    successful_requests: 0,
    failed_requests: 0,
    api_requests: 0,
    total_response_time_ms: 0,
    timed_requests: 0,
  };
}

function addRow(metrics: Record<string, number>, row: DailyRow): void {
  metrics.spend = (metrics.spend as number) + row.spend;
  metrics.api_requests = (metrics.api_requests as number) + row.api_requests;
  metrics.successful_requests = (metrics.successful_requests as number) + row.api_requests;
}

interface Bucket {
  metrics: Record<string, number>;
  metadata: Record<string, unknown>;
  api_key_breakdown?: Record<string, Bucket>;
}

/** BreakdownMetrics: MetricWithMetadata buckets by dimension, KeyMetricWithMetadata ones under api_keys. */
type Breakdown = Record<'mcp_servers' | 'models' | 'model_groups' | 'providers' | 'endpoints' | 'api_keys' | 'entities', Record<string, Bucket>>;

/** `{metrics, metadata, api_key_breakdown}` under `name`, created on first use (update_breakdown_metrics). */
function bucket(into: Record<string, Bucket>, name: string, keyed: boolean): Bucket {
  into[name] ??= { metrics: emptyMetrics(), metadata: {}, ...(keyed ? { api_key_breakdown: {} } : {}) };
  return into[name];
}

/** UTC day of an instant, as LiteLLM's daily tables key it. */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

/** FastAPI's answer to an HTTPException with a dict detail. */
const httpError = (status: number, error: string): Answer => ({ status, body: { detail: { error } } });

export class DailySpend {
  private readonly rows = new Map<string, DailyRow>();

  /** Bills `usd` to the key on `day` (UTC), one request, as LiteLLM's DBSpendUpdateWriter does after a completion. */
  record(key: StoredKey, usd: number, day: Date): void {
    const date = utcDay(day);
    const model = key.models[0] ?? 'gpt-4o';
    const id = `${date}|${key.token}|${model}`;
    const row = this.rows.get(id) ?? {
      id: randomUUID(),
      user_id: key.user_id,
      date,
      api_key: key.token,
      model,
      custom_llm_provider: model.includes('/') ? (model.split('/')[0] as string) : 'openai',
      spend: 0,
      api_requests: 0,
      key_alias: key.key_alias,
      team_id: key.team_id,
    };
    row.spend += usd;
    row.api_requests += 1;
    this.rows.set(id, row);
  }

  /**
   * GET /user/daily/activity: `start_date` and `end_date` (both required, compared as strings,
   * as Prisma compares the table's text `date`: a malformed date is no error), optional exact
   * filters `user_id`, `api_key` (the hash) and `model`; `page` ≥ 1 (default 1), `page_size`
   * 1 to 1000 (default 50). A page holds `page_size` ROWS, not days: one day's rows can fall on
   * two pages, and the totals in `metadata` are the page's. `total_pages` is 0 when nothing matches.
   * `ignoreUserId` answers as releases before the user_id filter did: everyone's spend.
   */
  activity(params: URLSearchParams, keys: ReadonlyMap<string, StoredKey>, ignoreUserId: boolean): Answer {
    const start = params.get('start_date');
    const end = params.get('end_date');
    const page = intParam(params, 'page', 1, 1);
    if (typeof page !== 'number') return page;
    const size = intParam(params, 'page_size', 50, 1, 1000);
    if (typeof size !== 'number') return size;
    if (params.has('timezone')) {
      // Validated as an int; without include_current_utc_day (the UI's cost view only) it moves nothing.
      const tz = intParam(params, 'timezone', 0, Number.MIN_SAFE_INTEGER);
      if (typeof tz !== 'number') return tz;
    }
    if (start === null || end === null) return httpError(400, 'Please provide start_date and end_date');
    const userId = ignoreUserId ? null : params.get('user_id');
    const apiKey = params.get('api_key');
    const model = params.get('model');
    const matching = [...this.rows.values()]
      .filter((r) => r.date >= start && r.date <= end)
      .filter((r) => userId === null || r.user_id === userId)
      .filter((r) => !apiKey || r.api_key === apiKey)
      .filter((r) => !model || r.model === model)
      .sort((a, b) => b.date.localeCompare(a.date) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const slice = matching.slice((page - 1) * size, page * size);

    const days = new Map<string, { metrics: Record<string, number>; breakdown: Breakdown }>();
    const totals = emptyMetrics();
    for (const row of slice) {
      let day = days.get(row.date);
      if (!day) {
        day = { metrics: emptyMetrics(), breakdown: { mcp_servers: {}, models: {}, model_groups: {}, providers: {}, endpoints: {}, api_keys: {}, entities: {} } };
        days.set(row.date, day);
      }
      const live = keys.get(row.api_key);
      const keyMetadata = {
        key_alias: live ? live.key_alias : row.key_alias,
        team_id: live ? live.team_id : row.team_id,
        user_id: live ? live.user_id : row.user_id,
        user_email: null,
        key_exists: live !== undefined,
      };
      const b = day.breakdown;
      const perKey = (parent: Bucket) => {
        const k = bucket(parent.api_key_breakdown as Record<string, Bucket>, row.api_key, false);
        k.metadata = keyMetadata;
        addRow(k.metrics, row);
      };
      for (const [into, name] of [
        [b.models, row.model],
        [b.model_groups, row.model],
        [b.providers, row.custom_llm_provider],
        [b.entities, row.user_id ?? 'Unassigned'],
      ] as const) {
        const parent = bucket(into, name, true);
        addRow(parent.metrics, row);
        perKey(parent);
      }
      const k = bucket(b.api_keys, row.api_key, false);
      k.metadata = keyMetadata;
      addRow(k.metrics, row);
      addRow(day.metrics, row);
      addRow(totals, row);
    }
    const results = [...days.entries()].sort(([a], [b]) => b.localeCompare(a)).map(([date, d]) => ({ date, ...d }));
    // DailySpendMetadata names each SpendMetrics field `total_<name>`, keeping those that already start so.
    const metadata = Object.fromEntries(Object.entries(totals).map(([name, value]) => [name.startsWith('total_') ? name : `total_${name}`, value]));
    return {
      status: 200,
      body: {
        results,
        metadata: {
          ...metadata,
          page,
          total_pages: Math.ceil(matching.length / size),
          has_more: page * size < matching.length,
          api_key_limit: null,
          total_api_keys: null,
        },
      },
    };
  }
}
