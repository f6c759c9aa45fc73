import type { State } from '../domain/states';

/**
 * Chat as the loop and the portal see it: a review message per request with Approve and Deny,
 * kept up to date, and direct messages to requesters. Slack is the one adapter today
 * (lib/chat/slack.ts); Microsoft Teams or Mattermost would implement the same interface.
 */

/** Everything a review message shows: built by the loop from the request, rendered by the adapter. */
export interface ReviewCard {
  requestId: string;
  requester: string;
  model: string;
  modelTitle: string;
  justification?: string;
  /** A top-up: "a top-up of $5 until 2026-12-31 on key <id>". */
  topUp?: string;
  /** "frontier: 1 from the manager, then 1 from the platform team" */
  policy: string;
  /** While in review: "1 of 2 approvals, waiting for the platform team". */
  progress?: string;
  /** Once decided: who and how; the buttons go. */
  outcome?: { state: State; by: string; reason?: string };
  /** The plugin chain's answers, one line each. */
  trace: string[];
  /** Each review so far, one line each. */
  reviews: string[];
  /** The requester's keys that work now: "gpt-4o (expires 2026-12-31)". */
  currentKeys: string[];
  statusUrl: string;
}

/** What a look for an earlier post found: the message, none, or 'unknown' when the chat cannot tell (the app may not read the conversation). */
export type FoundPost = MessageRef | undefined | 'unknown';

/** Where a posted review message lives, to update it. */
export interface MessageRef {
  channel: string;
  ts: string;
}

export type DirectMessage =
  | { kind: 'issued'; requestId: string; modelTitle: string; statusUrl: string; expiresAt?: string; changes?: string }
  | { kind: 'denied'; requestId: string; modelTitle: string; statusUrl: string; reason: string }
  | { kind: 'reminder'; requestId: string; modelTitle: string; statusUrl: string; expiresAt: string; days: number };

/** Which direct message this is, as recorded in the chat record's `sent`: "issued", "denied", "reminder:7". */
export function directMessageName(m: DirectMessage): string {
  return m.kind === 'reminder' ? `reminder:${m.days}` : m.kind;
}

export interface ChatPoster {
  /** Posts a review message; `channel` is the policy's, else the adapter's default. */
  postReview(card: ReviewCard, channel: string | undefined, signal?: AbortSignal): Promise<MessageRef>;
  /**
   * The review message of `requestId` in `channel` posted since `since`, looked for when an
   * earlier post may have gone through unseen.
   */
  findReview(channel: string | undefined, requestId: string, since: Date, signal?: AbortSignal): Promise<FoundPost>;
  /** The same for a direct message (`directMessageName`) to the person with this email. */
  findDirectMessage(email: string, message: DirectMessage, since: Date, signal?: AbortSignal): Promise<FoundPost>;
  /** Brings a review message up to date (progress, or the decision with the buttons gone). */
  updateReview(ref: MessageRef, card: ReviewCard, signal?: AbortSignal): Promise<void>;
  /** A direct message to the person with this email; `no-account` when they have none in the workspace. */
  directMessage(email: string, message: DirectMessage, signal?: AbortSignal): Promise<'sent' | 'no-account'>;
  /** Milliseconds until the review post of `requestId` to `channel` would go out at the chat's pace (0: now). */
  pauseBeforeReview(channel: string | undefined, requestId: string): number;
}
