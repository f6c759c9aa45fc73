import { z } from 'zod';
import { log } from '../log';
import { ChatRefusedError } from './errors';
import type { SlackWebApi } from './slack-api';
import type { MessageRef } from './types';

/**
 * Finds a review message Slack may have posted without our hearing of it: chat.postMessage has no
 * idempotency key, so when a post went out and no verdict came back (the connection dropped, the
 * time ran out, Slack's own `internal_error`), or a replica died between its post and its record,
 * posting again would put a second card in the channel. Every review message carries its request
 * id in its metadata (`keyportal_review`), so the channel's recent history says whether it is
 * there: conversations.history (`channels:history`, `groups:history` for a private channel) with
 * `include_all_metadata`, from a little before the first attempt.
 *
 * conversations.history takes a channel id only; a review channel configured by name is resolved
 * through conversations.list (`channels:read`, `groups:read`) once, or learned from a post's
 * answer. An app installed without those optional scopes cannot look: the post is made again, as
 * before, and the log says which scope would have prevented the copy.
 */

const MESSAGES_PAGE = 200;
/** A review channel's recent history is short; past this many pages the post is made again. */
const MAX_HISTORY_PAGES = 5;
const CHANNELS_PAGE = 1000;
const MAX_CHANNEL_PAGES = 20;
/** Slack's clock and ours may differ; look this far before the first attempt. */
const CLOCK_SLACK_S = 120;

const cursor = z.object({ next_cursor: z.string().optional() }).optional();
const historyAnswer = z.object({
  messages: z.array(z.looseObject({ ts: z.string(), metadata: z.object({ event_type: z.string(), event_payload: z.record(z.string(), z.unknown()) }).optional() })),
  has_more: z.boolean().optional(),
  response_metadata: cursor,
});
const listAnswer = z.object({
  channels: z.array(z.looseObject({ id: z.string(), name: z.string().optional() })),
  response_metadata: cursor,
});

/** What the lookup can say: the message, that there is none, or that it cannot tell. */
export type FoundReview = MessageRef | undefined | 'unknown';

export const REVIEW_EVENT = 'keyportal_review';

const CHANNEL_ID = /^[CG][A-Z0-9]{6,}$/;

export class ReviewHistory {
  /** Channel names (`#name` or `name`) to ids, learned from post answers and conversations.list. */
  private readonly ids = new Map<string, string>();
  private readonly warned = new Set<string>();

  constructor(private readonly api: SlackWebApi) {}

  /** A post to `setting` answered with channel id `id`. */
  learn(setting: string, id: string): void {
    if (!CHANNEL_ID.test(setting) && this.ids.size < 1000) this.ids.set(setting, id);
  }

  async find(setting: string, requestId: string, since: Date, signal?: AbortSignal): Promise<FoundReview> {
    try {
      const channel = await this.channelId(setting, signal);
      if (!channel) return 'unknown';
      return await this.search(channel, requestId, since, signal);
    } catch (err) {
      // A scope the app was not given, a channel the bot cannot read: it cannot tell.
      if (err instanceof ChatRefusedError) {
        this.warnOnce(err.code, setting);
        return 'unknown';
      }
      throw err;
    }
  }

  private async search(channel: string, requestId: string, since: Date, signal?: AbortSignal): Promise<FoundReview> {
    const oldest = (Math.floor(since.getTime() / 1000) - CLOCK_SLACK_S).toString();
    let next: string | undefined;
    for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
      const params = { channel, oldest, limit: MESSAGES_PAGE, include_all_metadata: true, ...(next ? { cursor: next } : {}) };
      const answer = await this.api.call('conversations.history', params, historyAnswer, signal);
      const hit = answer.messages.find((m) => m.metadata?.event_type === REVIEW_EVENT && m.metadata.event_payload.request_id === requestId);
      if (hit) return { channel, ts: hit.ts };
      next = answer.response_metadata?.next_cursor;
      if (!answer.has_more || !next) return undefined;
    }
    log('warn', 'chat: the review channel had more recent messages than are searched; the review is posted again', { channel, pages: MAX_HISTORY_PAGES });
    return 'unknown';
  }

  private async channelId(setting: string, signal?: AbortSignal): Promise<string | undefined> {
    if (CHANNEL_ID.test(setting)) return setting;
    const known = this.ids.get(setting);
    if (known) return known;
    const name = setting.replace(/^#/, '');
    let next: string | undefined;
    for (let page = 0; page < MAX_CHANNEL_PAGES; page++) {
      const params = { types: 'public_channel,private_channel', exclude_archived: true, limit: CHANNELS_PAGE, ...(next ? { cursor: next } : {}) };
      const answer = await this.api.call('conversations.list', params, listAnswer, signal);
      const hit = answer.channels.find((c) => c.name === name);
      if (hit) {
        this.learn(setting, hit.id);
        return hit.id;
      }
      next = answer.response_metadata?.next_cursor;
      if (!next) break;
    }
    this.warnOnce('channel_not_listed', setting);
    return undefined;
  }

  private warnOnce(code: string, channel: string): void {
    if (this.warned.has(code)) return;
    this.warned.add(code);
    const scopes = code === 'missing_scope' ? '; give the Slack app channels:history, groups:history, channels:read and groups:read' : '';
    log('warn', `chat: cannot look for a review message that may have been posted (${code}); it is posted again${scopes}`, { channel });
  }
}
