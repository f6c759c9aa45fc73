import { z } from 'zod';

/**
 * `chat.slack`: approvers act where they already are. Review messages with Approve and Deny go to
 * a channel (the policy's `slackChannel`, else `reviewChannel`); requesters get direct messages.
 * The bot token and signing secret come from the environment (SLACK_BOT_TOKEN,
 * SLACK_SIGNING_SECRET, or their `_FILE`), never from here.
 */
export const slackSchema = z.strictObject({
  /** A channel id (C0123ABCD) or name (#key-reviews) the app is a member of. */
  reviewChannel: z.string().min(1).max(80),
  /** Slack's Web API; tests point it at a double on loopback. */
  apiUrl: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }).default('https://slack.com/api/'),
  /** Requesters are told in a direct message when their key is issued, denied, or about to expire. */
  directMessages: z.boolean().default(true),
  /**
   * Approver groups are OIDC groups, which Slack does not know: a Slack user counts as in group
   * G when they are in the Slack user group mapped here (`{platform: S0123ABCD}`). Approvers named
   * by email, managers and delegates need no mapping.
   */
  approverUsergroups: z.record(z.string().min(1), z.string().regex(/^S[A-Z0-9]+$/, 'expected a Slack user group id such as S0123ABCD')).default({}),
  timeoutMs: z.int().min(100).max(30_000).default(5000),
});
export type SlackConfig = z.infer<typeof slackSchema>;

export const chatSchema = z.strictObject({ slack: slackSchema.optional() });
export type ChatConfig = z.infer<typeof chatSchema>;
