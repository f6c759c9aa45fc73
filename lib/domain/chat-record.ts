import { z } from 'zod';

/**
 * What chat (Slack) has been told about a request, kept on it in one annotation
 * (`keyportal.dev/chat`) and written with the version read, as the email's claim is: the review
 * message's place (to update it) and what it shows, the direct messages sent, a claim on a post
 * in flight, a retry, and what was given up on.
 */
const at = z.string().min(1).max(40);
export const chatRecordSchema = z.object({
  /** The review message, and a fingerprint of what it shows now (state and reviews). */
  review: z.object({ channel: z.string().min(1).max(40), ts: z.string().min(1).max(40), shows: z.string().max(80) }).optional(),
  /** Direct messages sent: "issued", "denied", "reminder:7". */
  sent: z.array(z.string().max(40)).max(20).optional(),
  /** A post in flight (`what`), claimed before the call so one replica posts it. */
  claim: z.object({ what: z.string().max(40), at }).optional(),
  /**
   * The next attempt at `what`, after Slack was down, rate-limiting, or refusing the token;
   * `unsureSince`: an attempt begun then went out and got no verdict, so Slack may have posted it:
   * the next attempt looks for it first.
   */
  retry: z.object({ what: z.string().max(40), attempt: z.int().min(1), at, since: at, error: z.string().max(500), unsureSince: at.optional() }).optional(),
  /** Items given up on for good (a channel that does not exist, a requester without a Slack account). */
  skipped: z.array(z.string().max(40)).max(20).optional(),
});
export type ChatRecord = z.infer<typeof chatRecordSchema>;
