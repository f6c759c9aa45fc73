import type { ChatRecord } from '../domain/chat-record';
import type { KeyRequest } from '../domain/key-request';

/**
 * Which chat (Slack) message a request is owed, read from the request alone, as plan.ts reads
 * the email owed. Chat comes after the request's own step (a mint or an email never waits on
 * Slack): the loop asks this only when that step is done or waiting.
 *
 * - `review:post`: in review, and no review message yet;
 * - `review:update`: the review message shows an older state or fewer reviews than there are;
 * - `dm:issued`, `dm:denied`: the requester's direct message, once their email is out;
 * - `dm:reminder:<days>`: beside the expiry reminder email of that many days.
 */

export interface ChatPlanSettings {
  directMessages: boolean;
  /** A claim on a post this old belongs to a replica that died mid-post, and is taken over. */
  claimSeconds: number;
}

export type ChatStep = { kind: 'chat'; what: string } | { kind: 'wait'; ms: number; why: 'chat' };

/** What the review message shows: the state and how many reviews; a change of either is an update. */
export const shows = (r: Pick<KeyRequest, 'state' | 'reviews'>): string => `${r.state}:${r.reviews?.length ?? 0}`;

/** The name a direct message is recorded under in `sent`: `dm:reminder:7` → `reminder:7`. */
export const sentName = (what: string): string => what.replace(/^dm:/, '');

/** What the review message at `ref` adds to the record: where it is and what it shows. */
export const reviewRecord = (r: Pick<KeyRequest, 'state' | 'reviews'>, ref: { channel: string; ts: string }): ChatRecord => ({ review: { ...ref, shows: shows(r) } });

/** Everything owed now, most urgent first. */
export function chatOwed(r: KeyRequest, s: ChatPlanSettings): string[] {
  const c: ChatRecord = r.chat ?? {};
  const done = (what: string) => c.sent?.includes(sentName(what)) || c.skipped?.includes(what);
  const owed: string[] = [];
  if (!c.review && r.state === 'in-review' && !done('review:post')) owed.push('review:post');
  if (c.review && c.review.shows !== shows(r) && !done('review:update')) owed.push('review:update');
  if (s.directMessages) {
    // A top-up applied is told by email only: the "your key is ready" message is a key's.
    if (((r.state === 'issued' && !r.topsUp) || r.state === 'denied') && r.notified === r.state) owed.push(`dm:${r.state}`);
    if (r.state === 'issued' && r.reminded !== undefined) owed.push(`dm:reminder:${r.reminded}`);
  }
  return owed.filter((w) => !done(w));
}

export function chatStep(r: KeyRequest, now: number, s: ChatPlanSettings): ChatStep | undefined {
  const [what] = chatOwed(r, s);
  if (!what) return undefined;
  const c = r.chat ?? {};
  if (c.retry?.what === what) {
    const ms = Date.parse(c.retry.at) - now;
    if (ms > 0) return { kind: 'wait', ms, why: 'chat' };
  }
  if (c.claim?.what === what) {
    const ms = Date.parse(c.claim.at) + s.claimSeconds * 1000 - now;
    if (ms > 0) return { kind: 'wait', ms, why: 'chat' };
  }
  return { kind: 'chat', what };
}
