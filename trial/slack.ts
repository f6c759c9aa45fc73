import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { Listener } from './listener';
import { answerControl } from './slack-control';
import { type Answer, FORM_ONLY_METHODS, METHOD_SCOPES, SLACK_METHODS, callMethod } from './slack-api';
import { type Json, type SlackChannelSpec, type SlackUserSpec, type SlackUsergroupSpec, SlackWorkspace, isObject } from './slack-workspace';
import { type ClickArgs, type ResponsePost, type ResponseTarget, type SubmitArgs, applyResponse, applySubmissionAnswer, blockActionsPayload, viewSubmissionPayload } from './slack-interact';
import { RateLimiter, type SlackRateLimits } from './slack-rate';
import { type InteractionResult, type SentInteraction, deliver, signedInteraction } from './slack-sign';

export { signRequest, interactionBody, type InteractionResult, type SentInteraction } from './slack-sign';
export { DEFAULT_RATE_LIMITS, type SlackRateLimits, type PerChannelLimit, type PerMinuteLimit } from './slack-rate';
export { FORM_ONLY_METHODS, METHOD_SCOPES, SLACK_METHODS } from './slack-api';
export { SlackWorkspace, type Conversation, type Ephemeral, type MessageVersion, type OpenedView, type SlackChannelSpec, type SlackUserSpec, type SlackUsergroupSpec, type StoredMessage } from './slack-workspace';
export type { ClickArgs, ResponsePost, SubmitArgs } from './slack-interact';

/**
 * A Slack double on 127.0.0.1: the Web API an app calls, and the interactions Slack sends the app,
 * signed as Slack signs them. A reader can check it against these pages:
 * - the methods, https://api.slack.com/methods/auth.test, …/chat.postMessage, …/chat.update,
 *   …/chat.postEphemeral, …/views.open, …/users.info, …/users.lookupByEmail,
 *   …/usergroups.users.list, …/conversations.open, …/conversations.history,
 *   …/conversations.list (trial/slack-api.ts, over the state in
 *   trial/slack-workspace.ts);
 * - "Using the Slack Web API" (https://api.slack.com/web): `<url>/api/<method>`, a bot token in
 *   `Authorization: Bearer` (or a form's `token`), JSON (`application/json; charset=utf-8`, without
 *   the charset a `missing_charset` warning), form or query arguments, every answer HTTP 200 with
 *   `ok`; no token is `not_authed`, a wrong one `invalid_auth`, an unknown method `unknown_method`.
 *   Methods whose page accepts only form encoding (FORM_ONLY_METHODS) ignore a JSON body, as Slack
 *   does: users.info sent as JSON is `user_not_found` (`jsonEverywhere: true` turns this off);
 * - "Rate limits" (https://api.slack.com/apis/rate-limits): 429, `Retry-After`, not performed
 *   (trial/slack-rate.ts);
 * - "Verifying requests from Slack" (https://api.slack.com/authentication/verifying-requests-from-slack)
 *   and "Handling user interaction" (https://api.slack.com/interactivity/handling): signed
 *   block_actions and view_submission POSTs, trigger_ids, response_url (trial/slack-sign.ts,
 *   trial/slack-interact.ts).
 * It can be told to fail: `failNext(n, kind)`, and `stop()` / `start()` for Slack down; told the
 * app's `scopes`, it answers `missing_scope` (with `needed` and `provided`) to the methods of
 * METHOD_SCOPES the app may not call.
 */

export type SlackFailure = 'down' | 'invalid_auth' | 'ratelimited' | 'internal_error' | 'lost';

export interface SlackCall {
  method: string;
  /** The arguments as they came: the JSON object, or the form and query fields (strings). */
  body: Json;
  transport: 'json' | 'form' | 'query';
  at: number;
  status: number;
  ok: boolean;
  error?: string;
  /** A JSON body sent to a form-only method, which Slack (and the double) did not read. */
  ignoredJson?: boolean;
  /** Performed, and its answer never sent (failNext 'lost'); `status` 0. */
  lost?: boolean;
}

export interface TestSlackOptions {
  /** Where it listens: loopback unless a trial runs it as a pod. */
  host?: string;
  /** A fixed port; 0 picks a free one. */
  port?: number;
  /** The bot token the app must present (xoxb-…). */
  token?: string;
  /** The app's signing secret: interactions are signed with it. */
  signingSecret?: string;
  /** The deprecated verification token Slack still puts in payloads as `token`. */
  verificationToken?: string;
  /** Overrides per method (see DEFAULT_RATE_LIMITS), or 'off'. */
  rateLimits?: SlackRateLimits | 'off';
  /** Read a JSON body on every method (Slack does not on FORM_ONLY_METHODS). */
  jsonEverywhere?: boolean;
  users?: SlackUserSpec[];
  channels?: SlackChannelSpec[];
  usergroups?: SlackUsergroupSpec[];
  /** How long an interaction waits for the app (Slack: 3 seconds). */
  interactionTimeoutMs?: number;
  /** How long a trigger_id is good for (Slack: 3 seconds). */
  triggerTtlMs?: number;
  /** The bot token's scopes; when given, METHOD_SCOPES' methods without one are `missing_scope`. */
  scopes?: string[];
}

export class TestSlack extends SlackWorkspace {
  /** Every Web API call, in order, with what it answered. */
  readonly calls: SlackCall[] = [];
  /** How many calls were answered 429 (by the limits or by failNext). */
  rateLimitedCount = 0;
  /** Every interaction sent to the app, as sent (replays are not added again). */
  readonly interactions: SentInteraction[] = [];
  /** What the app POSTed to response_urls. */
  readonly responses: ResponsePost[] = [];
  /** The app's Request URL for interactivity; set by the test to where the portal listens. */
  interactionUrl: string | undefined;
  readonly token: string;
  readonly signingSecret: string;
  readonly verificationToken: string;
  private failures: Array<{ kind: SlackFailure; method?: string; retryAfter: number }> = [];
  private readonly limiter: RateLimiter;
  private readonly responseUrls = new Map<string, ResponseTarget>();
  private readonly listener: Listener;

  constructor(private readonly options: TestSlackOptions = {}) {
    super();
    this.listener = new Listener(options.port ?? 0, options.host ?? '127.0.0.1');
    this.token = options.token ?? 'xoxb-1111111111-2222222222-testtokenkeyportal';
    this.signingSecret = options.signingSecret ?? 'test-signing-secret-8f14e45fceea167a';
    this.verificationToken = options.verificationToken ?? 'deprecatedVerificationToken0';
    this.limiter = new RateLimiter(options.rateLimits ?? {});
    if (options.triggerTtlMs !== undefined) this.triggerTtlMs = options.triggerTtlMs;
    for (const u of options.users ?? []) this.addUser(u);
    for (const c of options.channels ?? []) this.addChannel(c);
    for (const g of options.usergroups ?? []) this.addUsergroup(g);
  }

  /** The double's root; the Web API is at `${url}/api/<method>` (Slack's is https://slack.com/api/). */
  get url(): string {
    return `http://${this.listener.host}:${this.listener.port}`;
  }

  /** The base an app configures in place of https://slack.com/api/. */
  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  /** The last interaction sent, for replay(). */
  get lastInteraction(): SentInteraction | undefined {
    return this.interactions.at(-1);
  }

  /** Listens on 127.0.0.1; after stop(), on the same port again. */
  start(): Promise<void> {
    return this.listener.start(createServer((req, res) => void this.handle(req, res)));
  }

  /** Slack down: connections are refused until start(). */
  stop(): Promise<void> {
    return this.listener.stop();
  }

  /**
   * The next `n` calls (of `method`, or of any method) fail as `kind`: 'down' is HTTP 503
   * `service_unavailable`, 'ratelimited' a 429 with `Retry-After: retryAfter` (default 1),
   * 'invalid_auth' and 'internal_error' HTTP 200 with that error: the call is not performed.
   * 'lost': the call is performed and the connection is then cut, with no answer (a network that
   * dropped Slack's reply).
   */
  failNext(n: number, kind: SlackFailure, options: { method?: string; retryAfter?: number } = {}): void {
    for (let i = 0; i < n; i++) this.failures.push({ kind, method: options.method, retryAfter: options.retryAfter ?? 1 });
  }

  /** A person clicks a button on a message the app posted: a signed block_actions POST to interactionUrl. */
  async clickButton(a: ClickArgs & { timestamp?: number }): Promise<InteractionResult> {
    const triggerId = this.issueTrigger(a.user);
    const responseId = randomBytes(12).toString('hex');
    const { payload, target } = blockActionsPayload(this, a, { triggerId, responseUrl: `${this.url}/response/${responseId}`, verificationToken: this.verificationToken });
    this.responseUrls.set(responseId, target);
    return { ...(await this.send(payload, a.timestamp)), triggerId };
  }

  /** A person submits a modal the app opened: a signed view_submission POST; the app's answer acts on the modal. */
  async submitView(a: SubmitArgs & { timestamp?: number }): Promise<InteractionResult> {
    const id = typeof a.view === 'string' ? a.view : a.view.id;
    const opened = this.views.find((v) => v.id === id);
    if (!opened || opened.closed) throw new Error(`no open view ${id}: the app must open it with views.open first`);
    const triggerId = this.issueTrigger(a.user ?? opened.user);
    const payload = viewSubmissionPayload(this, opened, a, { triggerId, verificationToken: this.verificationToken });
    const result = await this.send(payload, a.timestamp);
    applySubmissionAnswer(this, opened, result.status, result.body);
    return { ...result, triggerId };
  }

  /**
   * Sends a previous interaction again, byte for byte with the same signature headers (a replay
   * attack, or a resend); `retry` adds X-Slack-Retry-Num / X-Slack-Retry-Reason as Slack's resends carry.
   */
  async replay(sent: SentInteraction, retry?: { num: number; reason?: string }): Promise<InteractionResult> {
    const headers: Record<string, string> = retry ? { 'X-Slack-Retry-Num': String(retry.num), 'X-Slack-Retry-Reason': retry.reason ?? 'http_timeout' } : {};
    const result = await deliver(sent, this.options.interactionTimeoutMs ?? 3000, headers);
    return { ...result, sent };
  }

  private async send(payload: Json, timestamp: number | undefined): Promise<InteractionResult> {
    if (!this.interactionUrl) throw new Error('set interactionUrl (the app\'s Request URL) before sending interactions');
    const sent = signedInteraction(this.interactionUrl, payload, this.signingSecret, timestamp);
    this.interactions.push(sent);
    return { ...(await deliver(sent, this.options.interactionTimeoutMs ?? 3000)), sent };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const raw = await new Promise<string>((resolve) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString('utf8')));
      req.on('end', () => resolve(data));
    });
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(payload));
    };
    if (url.pathname.startsWith('/_test/')) return answerControl(this, url, req.method, raw, send);
    const response = /^\/response\/([0-9a-f]+)$/.exec(url.pathname);
    if (response) return this.answerResponseUrl(response[1] as string, req.method, raw, send);
    const method = /^\/api\/([A-Za-z0-9_.]+)$/.exec(url.pathname)?.[1];
    if (!method) return send(404, { ok: false, error: 'not_found' });

    // Arguments: the query, then the body over it.
    const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
    let body: Json = Object.fromEntries(url.searchParams);
    let args: Json = body;
    let transport: SlackCall['transport'] = 'query';
    let ignoredJson = false;
    const warnings: string[] = [];
    let refusal: string | undefined;
    if (req.method === 'POST' && contentType.startsWith('application/json')) {
      transport = 'json';
      const parsed = safeJson(raw);
      if (!isObject(parsed)) refusal = 'invalid_json';
      else {
        body = parsed;
        if (!contentType.includes('charset')) warnings.push('missing_charset');
        if (FORM_ONLY_METHODS.has(method) && !this.options.jsonEverywhere) ignoredJson = true;
        else args = { ...args, ...parsed };
      }
    } else if (req.method === 'POST' && contentType.startsWith('application/x-www-form-urlencoded')) {
      transport = 'form';
      body = { ...body, ...Object.fromEntries(new URLSearchParams(raw)) };
      args = body;
    } else if (req.method === 'POST' && !contentType) refusal = 'missing_post_type';
    // Slack also takes multipart/form-data and text/plain; the double reads only their query.
    // (A body that is not JSON under application/json is the double's `invalid_json`.)
    else if (req.method === 'POST' && !/^(multipart\/form-data|text\/plain)/.test(contentType)) refusal = 'invalid_post_type';

    const note = (status: number, a: Answer, more: Partial<SlackCall> = {}) => {
      const error = typeof a.error === 'string' ? a.error : undefined;
      this.calls.push({ method, body, transport, at: Date.now(), status, ok: a.ok, ...(error ? { error } : {}), ...(ignoredJson ? { ignoredJson } : {}), ...more });
    };
    const answer = (status: number, a: Answer, headers: Record<string, string> = {}) => {
      if (status === 429) this.rateLimitedCount++;
      if (warnings.length && a.ok) Object.assign(a, { warning: warnings.join(','), response_metadata: { ...(isObject(a.response_metadata) ? a.response_metadata : {}), warnings } });
      note(status, a);
      send(status, a, headers);
    };

    const failure = this.takeFailure(method);
    const lost = failure?.kind === 'lost';
    if (failure?.kind === 'down') return answer(503, { ok: false, error: 'service_unavailable' });
    if (failure?.kind === 'ratelimited') return answer(429, { ok: false, error: 'ratelimited' }, { 'Retry-After': String(failure.retryAfter) });
    if (failure && !lost) return answer(200, { ok: false, error: failure.kind });
    if (refusal) return answer(200, { ok: false, error: refusal });

    const bearer = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    const token = bearer ?? (transport === 'form' && typeof body.token === 'string' ? body.token : undefined);
    if (!SLACK_METHODS.has(method)) return answer(200, { ok: false, error: 'unknown_method', req_method: method });
    if (!token) return answer(200, { ok: false, error: 'not_authed' });
    if (token !== this.token) return answer(200, { ok: false, error: 'invalid_auth' });

    // chat.postMessage is limited per channel: '#name' and its id share one bucket, as do a
    // user's id and the DM it posts into. (Resolving must not open the DM: the call may be refused.)
    const wait = this.limiter.take(method, token, method === 'chat.postMessage' ? this.limitKey(args.channel) : undefined);
    if (wait !== undefined) return answer(429, { ok: false, error: 'ratelimited' }, { 'Retry-After': String(wait) });
    const needed = METHOD_SCOPES[method];
    const scopes = this.options.scopes;
    if (needed && scopes && !needed.some((s) => scopes.includes(s))) return answer(200, { ok: false, error: 'missing_scope', needed: needed.join(','), provided: scopes.join(',') });
    const result = callMethod(this, method, args) ?? { ok: false, error: 'unknown_method', req_method: method };
    if (!lost) return answer(200, result);
    note(0, result, { lost: true });
    req.socket.destroy();
  }

  private limitKey(ref: unknown): string {
    if (typeof ref !== 'string') return '';
    const c = this.resolve(ref, false);
    if (c?.kind === 'im') return `im:${c.user}`;
    return c?.id ?? (this.users.has(ref) ? `im:${ref}` : ref);
  }

  private takeFailure(method: string) {
    const i = this.failures.findIndex((f) => f.method === undefined || f.method === method);
    return i < 0 ? undefined : this.failures.splice(i, 1)[0];
  }

  // POST <url>/response/<id>: Slack answers a JSON body it can use with 200; the double records
  // every POST and applies it to the message. Unknown ids and bodies that are not JSON are the
  // double's own 404 / 400 (Slack's exact codes there are not documented).
  private answerResponseUrl(id: string, method: string | undefined, raw: string, send: (status: number, payload: unknown) => void): void {
    const target = this.responseUrls.get(id);
    if (method !== 'POST' || !target) return send(404, { ok: false, error: 'no_such_response_url' });
    const body = safeJson(raw);
    this.responses.push({ id, at: Date.now(), body: body ?? raw, ...target });
    if (!isObject(body)) return send(400, { ok: false, error: 'invalid_payload' });
    const error = applyResponse(this, target, body);
    send(error ? 400 : 200, error ? { ok: false, error } : { ok: true });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
