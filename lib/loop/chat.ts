import { ChatRefusedError, ChatUnavailableError } from '../chat/errors';
import { type CardContext, directMessage, reviewCard } from '../chat/cards';
import type { ChatPoster, DirectMessage, FoundPost, ReviewCard } from '../chat/types';
import type { ChatRecord } from '../domain/chat-record';
import { type KeyRequest, rfc3339 } from '../domain/key-request';
import { backoffSeconds } from '../domain/retry';
import { log } from '../log';
import { updateLatest } from '../store/retry-on-conflict';
import type { RequestStore } from '../store/types';
import { reviewRecord, sentName, shows } from './chat-plan';
import type { LoopEvent } from './events';

/**
 * Executes what lib/loop/chat-plan.ts says a request is owed in chat. A post (the review
 * message, a direct message) is claimed on the request with the version read before Slack hears
 * of it, so of two replicas one posts; the message's `ts` is recorded after, as the email's claim
 * and `notified` are. A crash between the post and the record costs at most a second copy once
 * the claim is old (`loop.notifyClaimSeconds`), never a lost message. Updates need no claim: the
 * same update twice shows the same thing.
 *
 * Failures: Slack down or rate limiting waits (at Retry-After when Slack said, else the loop's
 * backoff) and tries again; a refused token keeps trying, slowly, while someone fixes it; any
 * other refusal (a channel that does not exist, a requester with no Slack account) is given up
 * for that message with a Warning Event, and the request goes on: email stays the record.
 */

export interface ChatDeps {
  poster: ChatPoster;
  store: RequestStore;
  clock: () => Date;
  retry: { initialSeconds: number; maxSeconds: number; giveUpAfterSeconds: number };
  card(r: KeyRequest): Promise<ReviewCard>;
  /** The review channel of the request's policy, if it names one. */
  channelOf(r: KeyRequest): string | undefined;
  directMessage(r: KeyRequest, what: 'issued' | 'denied' | 'reminder'): DirectMessage | undefined;
  tell(r: KeyRequest, event: LoopEvent): void;
}

/** The loop's chat dependencies: cards and direct messages built from the request. */
export function chatDepsFor(poster: ChatPoster, cards: CardContext, base: Pick<ChatDeps, 'store' | 'clock' | 'retry' | 'channelOf' | 'tell'>): ChatDeps {
  return { ...base, poster, card: (r) => reviewCard(cards, r), directMessage: (r, what) => directMessage(cards, r, what) };
}

/** What a chat step asks of the loop: nothing, or to come back later without a write. */
export type ChatOutcome = void | { requeueAfterMs: number };

export async function doChat(d: ChatDeps, r: KeyRequest, what: string, signal: AbortSignal): Promise<ChatOutcome> {
  if (what === 'review:update') return updateReview(d, r, signal);
  // Waiting for Slack's pace (a burst of reviews) writes nothing: the queue holds the turn.
  const pause = what === 'review:post' ? d.poster.pauseBeforeReview(d.channelOf(r), r.id) : 0;
  if (pause > 0) return { requeueAfterMs: Math.ceil(pause) };
  let doubt = doubtSince(r, what);
  // The retry stays beside the claim: the next failure counts from it (attempts, give-up time).
  const claimed = await d.store.update(r, { chat: { ...r.chat, claim: { what, at: rfc3339(d.clock()) } } });
  if (doubt) {
    let earlier: FoundPost;
    try {
      earlier = await findEarlier(d, claimed, what, new Date(doubt), signal);
    } catch (err) {
      return failed(d, claimed, what, err, doubt);
    }
    if (earlier && earlier !== 'unknown') {
      d.tell(claimed, { type: 'Normal', reason: 'ChatFound', message: `${what}: the message ${earlier.ts} in ${earlier.channel}, posted by an attempt whose answer was lost, is kept; not posted again` });
      return record(d, claimed, (c) => mergeDone(c, what === 'review:post' ? reviewRecord(claimed, earlier) : { sent: [sentName(what)] }));
    }
    // Looked, and nothing there: the earlier attempts posted nothing.
    if (earlier === undefined) doubt = undefined;
  }
  let done: ChatRecord;
  try {
    done = await post(d, claimed, what, signal);
  } catch (err) {
    const own = err instanceof ChatUnavailableError && err.unsure ? claimed.chat?.claim?.at : undefined;
    return failed(d, claimed, what, err, earliest(doubt, own));
  }
  await record(d, claimed, (c) => mergeDone(c, done));
}

/**
 * Since when an earlier attempt at this post may have reached Slack unseen (RFC 3339), or
 * undefined: a claim taken over (its replica stopped between its post and its record), or a
 * retry after an attempt that went out and got no verdict.
 */
function doubtSince(r: KeyRequest, what: string): string | undefined {
  const c = r.chat;
  const retry = c?.retry?.what === what ? c.retry : undefined;
  return earliest(c?.claim?.what === what ? c.claim.at : undefined, retry?.unsureSince);
}

function earliest(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return Date.parse(a) <= Date.parse(b) ? a : b;
}

/** The message an earlier attempt may have posted, looked for where this one would post it. */
async function findEarlier(d: ChatDeps, r: KeyRequest, what: string, since: Date, signal: AbortSignal): Promise<FoundPost> {
  if (what === 'review:post') return d.poster.findReview(d.channelOf(r), r.id, since, signal);
  const message = d.directMessage(r, dmKind(what));
  return message ? d.poster.findDirectMessage(r.email, message, since, signal) : undefined;
}

const dmKind = (what: string): 'issued' | 'denied' | 'reminder' => (what.startsWith('dm:reminder') ? 'reminder' : what === 'dm:issued' ? 'issued' : 'denied');

/** What a successful post adds to the record (the claim and retry go). */
async function post(d: ChatDeps, r: KeyRequest, what: string, signal: AbortSignal): Promise<ChatRecord> {
  if (what === 'review:post') {
    return reviewRecord(r, await d.poster.postReview(await d.card(r), d.channelOf(r), signal));
  }
  const message = d.directMessage(r, dmKind(what));
  const name = sentName(what);
  if (!message) return { sent: [name] };
  const outcome = await d.poster.directMessage(r.email, message, signal);
  if (outcome === 'no-account') {
    d.tell(r, { type: 'Normal', reason: 'ChatSkipped', message: `no direct message "${name}": the requester has no Slack account with this email` });
    return { skipped: [what] };
  }
  return { sent: [name] };
}

async function updateReview(d: ChatDeps, r: KeyRequest, signal: AbortSignal): Promise<void> {
  const ref = r.chat?.review;
  if (!ref) return;
  try {
    await d.poster.updateReview(ref, await d.card(r), signal);
  } catch (err) {
    // Deleted in Slack: while the request still waits, a new message is posted; after, nothing is owed.
    if (err instanceof ChatRefusedError && err.code === 'message_not_found') {
      const next = r.state === 'in-review' ? without(r.chat, 'review') : { ...r.chat, skipped: [...(r.chat?.skipped ?? []), 'review:update'] };
      d.tell(r, { type: 'Warning', reason: 'ChatMessageGone', message: `the review message ${ref.ts} in ${ref.channel} was deleted in Slack${r.state === 'in-review' ? '; posting a new one' : ''}` });
      return record(d, r, () => next);
    }
    return failed(d, r, 'review:update', err);
  }
  const now = shows(r);
  await record(d, r, (c) => (c.review ? { ...(c.retry?.what === 'review:update' ? without(c, 'retry') : c), review: { ...c.review, shows: now } } : c));
}

/** Records after a post or an update, even if the request moved meanwhile (a review arriving). */
async function record(d: ChatDeps, r: KeyRequest, next: (c: ChatRecord) => ChatRecord): Promise<void> {
  await updateLatest(d.store, r, (current) => ({ chat: next(current.chat ?? {}) }));
}

function mergeDone(c: ChatRecord, done: ChatRecord): ChatRecord {
  const out: ChatRecord = { ...without(without(c, 'claim'), 'retry') };
  if (done.review) out.review = done.review;
  if (done.sent) out.sent = [...new Set([...(c.sent ?? []), ...done.sent])];
  if (done.skipped) out.skipped = [...new Set([...(c.skipped ?? []), ...done.skipped])];
  return out;
}

function without<K extends keyof ChatRecord>(c: ChatRecord | undefined, key: K): ChatRecord {
  const { [key]: _, ...rest } = c ?? {};
  return rest;
}

/** A failed attempt: given up, or retried later; `unsureSince`: an attempt since then may have posted unseen. */
async function failed(d: ChatDeps, r: KeyRequest, what: string, err: unknown, unsureSince?: string): Promise<void> {
  const now = d.clock();
  const retryable = err instanceof ChatUnavailableError || (err instanceof ChatRefusedError && err.retryable);
  if (!retryable) {
    if (!(err instanceof ChatRefusedError)) throw err;
    d.tell(r, { type: 'Warning', reason: 'ChatFailed', message: `${what} given up: ${err.message}`.slice(0, 500) });
    log('warn', 'chat: a message was given up', { request: r.id, what, code: err.code });
    return record(d, r, (c) => mergeDone(c, { skipped: [what] }));
  }
  const previous = r.chat?.retry?.what === what ? r.chat.retry : undefined;
  const attempt = (previous?.attempt ?? 0) + 1;
  const since = previous?.since ?? rfc3339(now);
  const message = (err as Error).message;
  if (now.getTime() - Date.parse(since) >= d.retry.giveUpAfterSeconds * 1000) {
    d.tell(r, { type: 'Warning', reason: 'ChatFailed', message: `${what} given up after failing since ${since}: ${message}`.slice(0, 500) });
    return record(d, r, (c) => mergeDone(c, { skipped: [what] }));
  }
  if (err instanceof ChatRefusedError) log('error', 'chat: Slack refused the bot token; messages wait until it is fixed', { code: err.code });
  const told = err instanceof ChatUnavailableError ? err.retryAfterMs : undefined;
  // Slack said when (Retry-After, or our own pacing): that, not a backoff that grows with a queue.
  const waitMs = told ?? backoffSeconds(attempt, d.retry.initialSeconds, d.retry.maxSeconds) * 1000;
  const at = rfc3339(new Date(Math.ceil((now.getTime() + waitMs) / 1000) * 1000));
  // Waiting our turn at Slack's pace is no failure worth an Event (a burst of reviews is hundreds of them).
  if (!(err instanceof ChatUnavailableError && err.paced)) d.tell(r, { type: 'Warning', reason: 'ChatUnavailable', message: `${what}: ${message}; attempt ${attempt}, next at ${at}`.slice(0, 500) });
  await record(d, r, (c) => ({ ...without(c, 'claim'), retry: { what, attempt, at, since, error: message.slice(0, 500), ...(unsureSince ? { unsureSince } : {}) } }));
}
