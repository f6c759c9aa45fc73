import { z } from 'zod';
import { log } from '../log';
import { ChatRefusedError } from './errors';
import type { SlackWebApi } from './slack-api';
import type { FoundPost, MessageRef } from './types';

/**
 * Finds a message Slack may have posted without our hearing of it: chat.postMessage has no
 * idempotency key, so when a post went out and no verdict came back (the connection dropped, the
 * time ran out, Slack's own `internal_error`), or a replica died between its post and its record,
 * posting again would put a second card in the channel or a second note in a person's DMs. Every
 * message the loop posts carries what it is in its metadata (`keyportal_review` with the request
 * id; `keyportal_dm` with the request id and which message), so the conversation's recent
 * history says whether it is there: conversations.history with `include_all_metadata`, from a
 * little before the first attempt that may have posted.
 *
 * conversations.history takes a conversation id only: a review channel configured by name is
 * resolved through conversations.list once, or learned from a post's answer; a person's DM with
 * the app through conversations.open. Reading history needs scopes the app may not have been given
 * (`channels:history`, `groups:history`, `im:history`, and `channels:read`, `groups:read` for a
 * name): without them it cannot tell, the post is made again as before, and the log says which
 * scopes would have prevented the copy.
 */

const MESSAGES_PAGE = 200;
/** A review channel's recent history is short; past this many pages the post is made again. */
const MAX_HISTORY_PAGES = 5;
const CHANNELS_PAGE = 1000;
const MAX_CHANNEL_PAGES = 20;
/** Slack's clock and ours may differ; look this far before the first attempt. */
const CLOCK_SLACK_S = 120;

export const REVIEW_EVENT = 'keyportal_review';
export const DM_EVENT = 'keyportal_dm';

const cursor = z.object({ next_cursor: z.string().optional() }).optional();
const metadata = z.object({ event_type: z.string(), event_payload: z.record(z.string(), z.unknown()) });
const historyAnswer = z.object({
  messages: z.array(z.looseObject({ ts: z.string(), metadata: metadata.optional() })),
  has_more: z.boolean().optional(),
  response_metadata: cursor,
});
const listAnswer = z.object({
  channels: z.array(z.looseObject({ id: z.string(), name: z.string().optional() })),
  response_metadata: cursor,
});
const openAnswer = z.object({ channel: z.object({ id: z.string() }) });

type Metadata = z.infer<typeof metadata>;

const CHANNEL_ID = /^[CG][A-Z0-9]{6,}$/;

export class PostHistory {
  /** Channel names (`#name` or `name`) to ids, learned from post answers and conversations.list. */
  private readonly ids = new Map<string, string>();
  private readonly warned = new Set<string>();

  constructor(private readonly api: SlackWebApi) {}

  /** A post to `setting` answered with channel id `id`. */
  learn(setting: string, id: string): void {
    if (!CHANNEL_ID.test(setting) && this.ids.size < 1000) this.ids.set(setting, id);
  }

  /** The review message of `requestId` in the channel `setting` names, posted since `since`. */
  findReview(setting: string, requestId: string, since: Date, signal?: AbortSignal): Promise<FoundPost> {
    return this.cannotTell(setting, async () => {
      const channel = await this.channelId(setting, signal);
      if (!channel) return 'unknown';
      return this.search(channel, since, (m) => m.event_type === REVIEW_EVENT && m.event_payload.request_id === requestId, signal);
    });
  }

  /** The direct message `name` ("issued", "reminder:7") about `requestId` to the Slack user `userId`, posted since `since`. */
  findDirect(userId: string, requestId: string, name: string, since: Date, signal?: AbortSignal): Promise<FoundPost> {
    return this.cannotTell(`a direct message to ${userId}`, async () => {
      // The app's DM with the person; opening one that is open already changes nothing.
      const { channel } = await this.api.call('conversations.open', { users: userId }, openAnswer, signal);
      return this.search(channel.id, since, (m) => m.event_type === DM_EVENT && m.event_payload.request_id === requestId && m.event_payload.message === name, signal);
    });
  }

  /** A refusal (a scope the app was not given, a conversation the bot cannot read) means it cannot tell. */
  private async cannotTell(where: string, find: () => Promise<FoundPost>): Promise<FoundPost> {
    try {
      return await find();
    } catch (err) {
      if (!(err instanceof ChatRefusedError)) throw err;
      this.warnOnce(err.code, where);
      return 'unknown';
    }
  }

  private async search(channel: string, since: Date, match: (m: Metadata) => boolean, signal?: AbortSignal): Promise<FoundPost> {
    const oldest = (Math.floor(since.getTime() / 1000) - CLOCK_SLACK_S).toString();
    let next: string | undefined;
    for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
      const params = { channel, oldest, limit: MESSAGES_PAGE, include_all_metadata: true, ...(next ? { cursor: next } : {}) };
      const answer = await this.api.call('conversations.history', params, historyAnswer, signal);
      const hit = answer.messages.find((m) => m.metadata !== undefined && match(m.metadata));
      if (hit) return { channel, ts: hit.ts } satisfies MessageRef;
      next = answer.response_metadata?.next_cursor;
      if (!answer.has_more || !next) return undefined;
    }
    log('warn', 'chat: the conversation had more recent messages than are searched; the message is posted again', { channel, pages: MAX_HISTORY_PAGES });
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

  private warnOnce(code: string, where: string): void {
    if (this.warned.has(code)) return;
    this.warned.add(code);
    const scopes = code === 'missing_scope' ? '; give the Slack app channels:history, groups:history, im:history, channels:read and groups:read' : '';
    log('warn', `chat: cannot look for a message that may have been posted (${code}); it is posted again${scopes}`, { where });
  }
}
