import { z } from 'zod';
import { type Deadline, deadline } from '../io/deadline';
import { countChatCall } from '../metrics/record';
import { AUTH_CODES, ChatRefusedError, ChatUnavailableError, TRANSIENT_CODES } from './errors';

/**
 * Slack's Web API (https://api.slack.com/web): `POST <base><method>` with JSON for writes, `GET`
 * with a query for reads, the bot token in `Authorization: Bearer`. Every answer is HTTP 200 with
 * `{ok: true, ...}` or `{ok: false, error}`, except rate limiting: HTTP 429 with `Retry-After`.
 *
 * Rate limits are honoured before Slack has to say so: chat.postMessage is paced per channel
 * (Slack allows about one message a second to a channel, with short bursts), and after a 429 the
 * method (or the channel) is left alone until its Retry-After has passed. A call that would have
 * to wait more than a moment is not held: it fails as ChatUnavailableError with the wait, so the
 * loop requeues the request for then and its worker moves on. A burst of 500 reviews thus drains
 * at Slack's pace, each post made once.
 */

export interface SlackApiOptions {
  baseUrl: string;
  token: string;
  timeoutMs: number;
  /** chat.postMessage per channel: a message every this many ms, `burst` at once. */
  postIntervalMs?: number;
  burst?: number;
  now?: () => number;
}

/** Reads: sent as GET with a query, as Slack documents them. */
const READS = new Set(['users.info', 'users.lookupByEmail', 'usergroups.users.list', 'auth.test', 'conversations.history', 'conversations.list']);
/** Failures before the request left this process: Slack cannot have acted on it. */
const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
/** `ok: false` answers after which the call may still have been carried out. */
const MAYBE_DONE_CODES = new Set(['internal_error', 'fatal_error']);
/** A wait this short is slept through; a longer one goes back to the loop's queue. */
const HOLD_MS = 1500;

const envelope = z.looseObject({ ok: z.boolean(), error: z.string().optional() });

export class SlackWebApi {
  private readonly base: string;
  private readonly now: () => number;
  private readonly interval: number;
  private readonly burst: number;
  /** Per channel: chat.postMessage's theoretical arrival time (GCRA). */
  private readonly tat = new Map<string, number>();
  /** Per channel: the next turn handed to a post that has to wait (see pauseFor). */
  private readonly turns = new Map<string, number>();
  /** The turn each waiting post holds, by channel and request. */
  private readonly held = new Map<string, number>();
  /** Per method (or method and channel): no call before this, after Slack said 429. */
  private readonly blockedUntil = new Map<string, number>();

  /** Channels whose pace is still kept (a post in the last interval or so); for tests. */
  get pacing(): number {
    return this.tat.size;
  }

  constructor(private readonly options: SlackApiOptions) {
    this.base = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;
    this.now = options.now ?? Date.now;
    this.interval = options.postIntervalMs ?? 1000;
    this.burst = options.burst ?? 3;
  }

  async call<S extends z.ZodType>(method: string, params: Record<string, unknown>, schema: S, signal?: AbortSignal): Promise<z.infer<S>> {
    const channel = method === 'chat.postMessage' && typeof params.channel === 'string' ? params.channel : undefined;
    const key = channel ? `${method} ${channel}` : method;
    await this.gate(method, key, channel);
    // The time limit covers the answer's body too: a server that sends headers and stalls is cut off.
    const within = deadline(this.options.timeoutMs, signal);
    try {
      return await this.answer(method, key, await this.send(method, params, within, signal), schema);
    } finally {
      within.release();
    }
  }

  /** Slack's answer: its status, then its envelope's `ok`, then what `schema` reads from it. */
  private async answer<S extends z.ZodType>(method: string, key: string, res: Response, schema: S): Promise<z.infer<S>> {
    if (res.status === 429) {
      const seconds = Number(res.headers.get('retry-after'));
      const waitMs = (Number.isFinite(seconds) && seconds > 0 ? seconds : 1) * 1000;
      this.blockedUntil.set(key, this.now() + waitMs);
      await res.body?.cancel().catch(() => undefined);
      countChatCall(method, 'ratelimited');
      throw new ChatUnavailableError(`Slack rate-limited ${method}; retry after ${Math.ceil(waitMs / 1000)} s`, waitMs);
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      countChatCall(method, 'unavailable');
      // A 500, or a proxy's 502 or 504, may stand for a call Slack carried out; a 503 (Slack down) does not.
      throw new ChatUnavailableError(`Slack answered HTTP ${res.status} to ${method}`, undefined, false, res.status >= 500 && res.status !== 503);
    }
    const body: unknown = await res.json().catch(() => undefined);
    const head = envelope.safeParse(body);
    if (!head.success) {
      countChatCall(method, 'unavailable');
      throw new ChatUnavailableError(`Slack answered ${method} with something that is not its JSON envelope`, undefined, false, true);
    }
    if (!head.data.ok) throw this.refusal(method, head.data.error ?? 'unknown_error');
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      countChatCall(method, 'unavailable');
      // `ok: true`: done, but without what tells us where.
      throw new ChatUnavailableError(`Slack's answer to ${method} lacks what Keyportal reads (${parsed.error.issues[0]?.path.join('.') ?? 'shape'})`, undefined, false, true);
    }
    countChatCall(method, 'ok');
    return parsed.data as z.infer<S>;
  }

  private refusal(method: string, code: string): Error {
    if (code === 'ratelimited' || TRANSIENT_CODES.has(code)) {
      countChatCall(method, code === 'ratelimited' ? 'ratelimited' : 'unavailable');
      // Slack's pages on internal_error and fatal_error: "some aspect of the operation" may have succeeded.
      return new ChatUnavailableError(`Slack answered ${method}: ${code}`, code === 'ratelimited' ? 1000 : undefined, false, MAYBE_DONE_CODES.has(code));
    }
    if (AUTH_CODES.has(code)) {
      countChatCall(method, 'auth');
      return new ChatRefusedError(code, `Slack refused the bot token for ${method} (${code}): check SLACK_BOT_TOKEN and the app's scopes`, true);
    }
    countChatCall(method, 'refused');
    return new ChatRefusedError(code, `Slack answered ${method}: ${code}`, false);
  }

  /**
   * How long until a call would pass the gate without being refused (0: now). The loop asks
   * before it claims a post, so waiting for Slack's pace costs no API write. Each waiting post
   * (`who`: the request) holds a turn, one interval after the last one handed out, and keeps it
   * when it asks again early (a resync): a queue of 500 wakes one at a time, in order, rather
   * than all at each slot.
   */
  pauseFor(method: string, channel?: string, who?: string): number {
    const now = this.now();
    const key = channel ? `${method} ${channel}` : method;
    const blocked = Math.max(this.blockedFor(key, now), 0);
    if (!channel || method !== 'chat.postMessage') return blocked;
    const wait = Math.max(blocked, this.paceWait(channel, now).wait);
    const turnKey = `${channel} ${who ?? ''}`;
    const held = this.held.get(turnKey);
    if (held !== undefined && held > now) return held - now;
    // Nobody queued ahead (or this one's turn has come): go if the pace allows.
    const queued = held === undefined && (this.turns.get(channel) ?? 0) > now + this.interval;
    if (!queued && blocked === 0 && wait <= HOLD_MS) {
      this.held.delete(turnKey);
      return 0;
    }
    const turn = Math.max(this.turns.get(channel) ?? 0, now + wait);
    this.turns.set(channel, turn + this.interval);
    if (this.held.size >= 10_000) for (const [k, at] of this.held) if (at < now - 60_000) this.held.delete(k);
    this.held.set(turnKey, turn);
    return turn - now;
  }

  /** Waits out (briefly) or refuses a call Slack would only rate-limit. */
  private async gate(method: string, key: string, channel: string | undefined): Promise<void> {
    const now = this.now();
    if (this.blockedUntil.size > 1000) for (const [k, until] of this.blockedUntil) if (until <= now) this.blockedUntil.delete(k);
    const blocked = this.blockedFor(key, now);
    if (blocked > 0) {
      countChatCall(method, 'ratelimited');
      throw new ChatUnavailableError(`Slack asked for a pause on ${method}; ${Math.ceil(blocked / 1000)} s left`, blocked, true);
    }
    if (!channel) return;
    const { tat, wait } = this.paceWait(channel, now);
    if (wait > HOLD_MS) {
      countChatCall(method, 'ratelimited');
      throw new ChatUnavailableError(`posting to ${channel} at Slack's pace; next slot in ${Math.ceil(wait / 1000)} s`, wait, true);
    }
    // A direct message's channel is the person's id: one entry each, kept only while it paces.
    if (this.tat.size > 1000) for (const [k, at] of this.tat) if (at <= now) this.tat.delete(k);
    this.tat.set(channel, tat + this.interval);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  /** Milliseconds Slack's Retry-After still asks for on this method (or method and channel); ≤ 0: none. */
  private blockedFor(key: string, now: number): number {
    return (this.blockedUntil.get(key) ?? 0) - now;
  }

  /** GCRA: the theoretical arrival time moves one interval per post; `burst` may run ahead of it. */
  private paceWait(channel: string, now: number): { tat: number; wait: number } {
    const tat = Math.max(this.tat.get(channel) ?? now, now);
    return { tat, wait: tat - now - (this.burst - 1) * this.interval };
  }

  private async send(method: string, params: Record<string, unknown>, within: Deadline, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}` };
    const read = READS.has(method);
    const url = read ? `${this.base}${method}?${new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]))}` : `${this.base}${method}`;
    if (!read) headers['content-type'] = 'application/json; charset=utf-8';
    try {
      return await fetch(url, {
        method: read ? 'GET' : 'POST',
        headers,
        ...(read ? {} : { body: JSON.stringify(params) }),
        signal: within.signal,
        redirect: 'error',
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      countChatCall(method, 'unavailable');
      const code = (err as { cause?: { code?: string } }).cause?.code;
      const cause = code ?? (within.timedOut ? `no answer within ${this.options.timeoutMs} ms` : (err as Error).message);
      // The base URL only: never the query (it may carry an email).
      throw new ChatUnavailableError(`Slack unreachable at ${new URL(this.base).origin} (${method}): ${cause}`, undefined, false, !(code && NEVER_SENT_CODES.has(code)));
    }
  }
}
