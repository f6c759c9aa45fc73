import type { KeyRequest } from '../domain/key-request';
import { normalizeEmail } from '../domain/key-request';
import { QUEUE_ORDER, STATES, type State, isLive } from '../domain/states';
import { InvalidCursorError } from './errors';
import { oldestFirst } from './ordering';
import type { Page, PageOptions, QueryPage, RequestQuery, StoreStats } from './types';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

/** Newest first, then id: the order within a state, and the tie-break everywhere. */
function newestFirst(a: KeyRequest, b: KeyRequest): number {
  return a.createdAt === b.createdAt ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.createdAt < b.createdAt ? 1 : -1;
}

// The same identity the pair label hashes, without hashing on every change.
const pairKey = (email: string, model: string): string => `${normalizeEmail(email)}\n${model}`;

const RANK = new Map<State, number>(QUEUE_ORDER.map((s, i) => [s, i]));

interface SortKey {
  r: number;
  c: string;
  i: string;
}

const keyOf = (r: KeyRequest, order: 'queue' | 'newest'): SortKey => ({ r: order === 'queue' ? (RANK.get(r.state) ?? 0) : 0, c: r.createdAt, i: r.id });

function compareKeys(a: SortKey, b: SortKey): number {
  if (a.r !== b.r) return a.r - b.r;
  if (a.c !== b.c) return a.c < b.c ? 1 : -1;
  return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
}

/**
 * Within a state the index keeps requests oldest first (the reverse of the order shown), so a new
 * request, nearly always the newest, is appended rather than spliced in at the front.
 * Returns the first position whose request sorts at or after `key` in that stored order.
 */
function lowerBound(arr: readonly KeyRequest[], key: { c: string; i: string }): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const r = arr[mid] as KeyRequest;
    // Stored order is the shown order reversed: compareKeys(key, r) < 0 means r is stored first.
    if (compareKeys({ r: 0, c: key.c, i: key.i }, { r: 0, c: r.createdAt, i: r.id }) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Oldest first, as the per-state arrays are stored (the shown order reversed). */
const storedOrder = (a: KeyRequest, b: KeyRequest): number => -newestFirst(a, b);

function firstIdAfter(ids: readonly string[], afterId: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ids[mid] as string) <= afterId) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Most people hold one or two requests, so a key maps to a bare id until it has two: at
 * 100,000 requesters a Set each would cost tens of MB.
 */
type IdMap = Map<string, string | Set<string>>;

function addTo(map: IdMap, key: string, id: string): void {
  const cur = map.get(key);
  if (cur === undefined || cur === id) map.set(key, id);
  else if (typeof cur === 'string') map.set(key, new Set([cur, id]));
  else cur.add(id);
}

function removeFrom(map: IdMap, key: string, id: string): void {
  const cur = map.get(key);
  if (cur === id) map.delete(key);
  else if (cur instanceof Set) {
    cur.delete(id);
    if (cur.size === 1) map.set(key, cur.values().next().value as string);
  }
}

function idsIn(map: IdMap, key: string): Set<string> {
  const cur = map.get(key);
  return cur === undefined ? new Set() : typeof cur === 'string' ? new Set([cur]) : cur;
}

const emptyCounts = (): Record<State, number> => Object.fromEntries(STATES.map((s) => [s, 0])) as Record<State, number>;

/**
 * Every request a store holds, in memory, indexed the ways the portal and the loop ask:
 * by id, by state (kept sorted, newest first, so a page is a binary search and a slice), by
 * requester and by (requester, model) pair. Both stores answer reads from it; it holds
 * metadata only, never a key.
 */
export class RequestIndex {
  private readonly byId = new Map<string, KeyRequest>();
  private readonly byState = new Map<State, KeyRequest[]>(STATES.map((s) => [s, []]));
  private readonly byRequester: IdMap = new Map();
  private readonly byPair: IdMap = new Map();
  private sortedIds: string[] | undefined;

  get size(): number {
    return this.byId.size;
  }

  get(id: string): KeyRequest | undefined {
    return this.byId.get(id);
  }

  ids(): IterableIterator<string> {
    return this.byId.keys();
  }

  /** Adds or replaces a request. */
  put(r: KeyRequest): void {
    if (!this.unlink(r.id) && this.sortedIds) this.sortedIds.splice(firstIdAfter(this.sortedIds, r.id), 0, r.id);
    this.byId.set(r.id, r);
    const arr = this.byState.get(r.state) as KeyRequest[];
    const at = lowerBound(arr, { c: r.createdAt, i: r.id });
    if (at === arr.length) arr.push(r);
    else arr.splice(at, 0, r);
    addTo(this.byRequester, normalizeEmail(r.email), r.id);
    addTo(this.byPair, pairKey(r.email, r.model), r.id);
  }

  remove(id: string): KeyRequest | undefined {
    const old = this.unlink(id);
    if (old && this.sortedIds) {
      const at = firstIdAfter(this.sortedIds, id) - 1;
      if (this.sortedIds[at] === id) this.sortedIds.splice(at, 1);
    }
    return old;
  }

  /** Takes a request out of every index but the sorted ids (a replacement keeps its id). */
  private unlink(id: string): KeyRequest | undefined {
    const old = this.byId.get(id);
    if (!old) return undefined;
    this.byId.delete(id);
    const arr = this.byState.get(old.state) as KeyRequest[];
    const at = lowerBound(arr, { c: old.createdAt, i: old.id });
    if (arr[at]?.id === id) arr.splice(at, 1);
    else arr.splice(arr.findIndex((x) => x.id === id), 1);
    removeFrom(this.byRequester, normalizeEmail(old.email), id);
    removeFrom(this.byPair, pairKey(old.email, old.model), id);
    return old;
  }

  /**
   * Replaces everything at once (a relist): one sort per state instead of a splice per request.
   * Returns the ids that are new or changed, and the ids that are gone.
   */
  replaceAll(requests: readonly KeyRequest[]): { changed: string[]; removed: string[] } {
    const previous = new Map(this.byId);
    this.clear();
    const changed: string[] = [];
    for (const r of requests) {
      const old = previous.get(r.id);
      previous.delete(r.id);
      if (!old || old.resourceVersion !== r.resourceVersion) changed.push(r.id);
      this.byId.set(r.id, r);
      (this.byState.get(r.state) as KeyRequest[]).push(r);
      addTo(this.byRequester, normalizeEmail(r.email), r.id);
      addTo(this.byPair, pairKey(r.email, r.model), r.id);
    }
    for (const arr of this.byState.values()) arr.sort(storedOrder);
    return { changed, removed: [...previous.keys()] };
  }

  clear(): void {
    this.byId.clear();
    for (const arr of this.byState.values()) arr.length = 0;
    this.byRequester.clear();
    this.byPair.clear();
    this.sortedIds = undefined;
  }

  /** The live requests of one (email, model) pair, oldest first: the one that counts is [0]. */
  livePair(email: string, model: string): KeyRequest[] {
    const ids = idsIn(this.byPair, pairKey(email, model));
    return [...ids].map((id) => this.byId.get(id) as KeyRequest).filter((r) => isLive(r.state)).sort(oldestFirst);
  }

  countByState(state: State): number {
    return this.byState.get(state)?.length ?? 0;
  }

  /** Counts per state and the oldest of each: a length and a first element per state, no scan. */
  stats(): StoreStats {
    const counts = emptyCounts();
    const oldestCreatedAt: StoreStats['oldestCreatedAt'] = {};
    for (const [state, arr] of this.byState) {
      counts[state] = arr.length;
      const first = arr[0];
      if (first) oldestCreatedAt[state] = first.createdAt;
    }
    return { counts, oldestCreatedAt };
  }

  query(q: RequestQuery): QueryPage {
    const order = q.order ?? 'queue';
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? DEFAULT_LIMIT), 1), MAX_LIMIT);
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, order);
    const model = q.model || undefined;
    const search = q.search?.trim().toLowerCase() || undefined;
    const matches = (r: KeyRequest) => (!model || r.model === model) && (!search || r.email.toLowerCase().includes(search));

    // A person's own requests are few: take them from the requester index and sort them.
    if (q.email !== undefined) {
      const ids = idsIn(this.byRequester, normalizeEmail(q.email));
      const own = [...ids].map((id) => this.byId.get(id) as KeyRequest).filter(matches);
      const counts = emptyCounts();
      for (const r of own) counts[r.state]++;
      const rows = own.filter((r) => !q.state || r.state === q.state).sort((a, b) => compareKeys(keyOf(a, order), keyOf(b, order)));
      const start = after ? rows.findIndex((r) => compareKeys(keyOf(r, order), after) > 0) : 0;
      return this.page(start < 0 ? [] : rows.slice(start), rows.length, counts, limit, order);
    }

    const filtered = model !== undefined || search !== undefined;
    const counts = emptyCounts();
    for (const s of STATES) counts[s] = filtered ? (this.byState.get(s) as KeyRequest[]).filter(matches).length : this.countByState(s);
    const states = q.state ? [q.state] : order === 'queue' ? QUEUE_ORDER : STATES;
    const total = states.reduce((n, s) => n + counts[s], 0);

    if (order === 'newest' && !q.state) {
      // Across states by time alone: rare (no page asks for it unfiltered), so sort what matches.
      const rows = [...this.byId.values()].filter(matches).sort(newestFirst);
      const start = after ? rows.findIndex((r) => compareKeys(keyOf(r, order), after) > 0) : 0;
      return this.page(start < 0 ? [] : rows.slice(start), total, counts, limit, order);
    }

    const out: KeyRequest[] = [];
    for (const s of states) {
      const rank = order === 'queue' ? (RANK.get(s) ?? 0) : 0;
      if (after && rank < after.r) continue;
      const arr = this.byState.get(s) as KeyRequest[];
      // Walk backwards from the newest (or from just past the cursor).
      let i = (after && rank === after.r ? lowerBound(arr, after) : arr.length) - 1;
      for (; i >= 0 && out.length <= limit; i--) {
        const r = arr[i] as KeyRequest;
        if (matches(r)) out.push(r);
      }
      if (out.length > limit) break;
    }
    return this.page(out, total, counts, limit, order);
  }

  /**
   * The older listing contract (continue tokens over every request matching one label), kept
   * for the loop's resync, the sweeps and the store contract: every request at most once across
   * the pages. All of them, or one person's, by id (a token is the last id seen); one state's in
   * that state's stored order.
   */
  list(filter: { state?: State; email?: string }, page: PageOptions = {}): Page {
    const limit = Math.min(Math.max(page.limit ?? 100, 1), MAX_LIMIT);
    if (filter.state !== undefined && filter.email === undefined) return this.listState(filter.state, limit, page.continue);
    const afterId = page.continue ? Buffer.from(page.continue, 'base64url').toString('utf8') : '';
    // One person's requests: only theirs, sorted (a handful), never a walk of every id, which at
    // 100,000 requests cost each creation and each decision 6 ms.
    const ids = filter.email === undefined ? this.idsInOrder() : [...idsIn(this.byRequester, normalizeEmail(filter.email))].sort();
    const items: KeyRequest[] = [];
    let i = afterId ? firstIdAfter(ids, afterId) : 0;
    for (; i < ids.length && items.length < limit; i++) {
      const r = this.byId.get(ids[i] as string) as KeyRequest;
      if (!filter.state || r.state === filter.state) items.push(r);
    }
    const last = items.at(-1);
    const more = i < ids.length && last !== undefined;
    return more ? { items, invalid: [], continue: Buffer.from(last.id).toString('base64url') } : { items, invalid: [] };
  }

  /**
   * One state's requests, a page at a time, from that state's own array (in its stored order; the
   * token is the last one's place in it). The sweeps page through an ended state every few
   * seconds: walking every id for it cost the loop's process ~20 ms a second at 100,000 stored.
   */
  private listState(state: State, limit: number, token: string | undefined): Page {
    const arr = this.byState.get(state) as KeyRequest[];
    let at = 0;
    if (token) {
      // The stored order is the "newest" order reversed: its cursor names the same place.
      const after = decodeCursor(token, 'newest');
      at = lowerBound(arr, after);
      if (arr[at]?.id === after.i) at++;
    }
    const items = arr.slice(at, at + limit);
    const last = items.at(-1);
    return last && at + limit < arr.length ? { items, invalid: [], continue: encodeCursor(keyOf(last, 'newest'), 'newest') } : { items, invalid: [] };
  }

  /** Ids sorted: built on first use, then kept sorted as requests come and go (a binary search and a splice each). */
  private idsInOrder(): string[] {
    this.sortedIds ??= [...this.byId.keys()].sort();
    return this.sortedIds;
  }

  private page(rows: KeyRequest[], total: number, counts: Record<State, number>, limit: number, order: 'queue' | 'newest'): QueryPage {
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    const result: QueryPage = { items, total, counts };
    if (rows.length > limit && last) result.nextCursor = encodeCursor(keyOf(last, order), order);
    return result;
  }
}

function encodeCursor(key: SortKey, order: 'queue' | 'newest'): string {
  return Buffer.from(JSON.stringify({ o: order[0], ...key })).toString('base64url');
}

function decodeCursor(cursor: string, order: 'queue' | 'newest'): SortKey {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (v && typeof v === 'object') {
      const { o, r, c, i } = v as Record<string, unknown>;
      if (o === order[0] && typeof r === 'number' && Number.isInteger(r) && typeof c === 'string' && typeof i === 'string') return { r, c, i };
    }
  } catch {
    // fall through: not a cursor of ours
  }
  throw new InvalidCursorError();
}
