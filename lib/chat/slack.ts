import { z } from 'zod';
import type { SlackConfig } from '../config/chat-schema';
import { ChatRefusedError } from './errors';
import { type SlackApiOptions, SlackWebApi } from './slack-api';
import { type Block, directMessageBlocks, reviewBlocks, reviewText } from './slack-blocks';
import { DM_EVENT, PostHistory, REVIEW_EVENT } from './slack-history';
import { type ChatPoster, type DirectMessage, type FoundPost, type MessageRef, type ReviewCard, directMessageName } from './types';

const posted = z.object({ channel: z.string(), ts: z.string() });
const userSchema = z.object({
  id: z.string(),
  deleted: z.boolean().optional(),
  is_bot: z.boolean().optional(),
  is_email_confirmed: z.boolean().optional(),
  profile: z.object({ email: z.string().optional() }).optional(),
});
export type SlackUser = z.infer<typeof userSchema>;
const userAnswer = z.object({ user: userSchema });
const membersAnswer = z.object({ users: z.array(z.string()) });
const ok = z.object({});

/** Remembered Slack answers that change rarely, for this long. */
const CACHE_MS = 5 * 60_000;

/** The Slack adapter: review messages, their updates, direct messages, and who a Slack user is. */
export class SlackChat implements ChatPoster {
  readonly api: SlackWebApi;
  private readonly history: PostHistory;
  private readonly byEmail = new Map<string, { id: string | null; at: number }>();
  private readonly users = new Map<string, { user: SlackUser | null; at: number }>();
  private readonly groups = new Map<string, { members: Set<string>; at: number }>();

  constructor(
    private readonly config: SlackConfig,
    token: string,
    extra: Partial<SlackApiOptions> = {},
  ) {
    this.api = new SlackWebApi({ baseUrl: config.apiUrl, token, timeoutMs: config.timeoutMs, ...extra });
    this.history = new PostHistory(this.api);
  }

  async postReview(card: ReviewCard, channel: string | undefined, signal?: AbortSignal): Promise<MessageRef> {
    const setting = channel ?? this.config.reviewChannel;
    const res = await this.api.call(
      'chat.postMessage',
      {
        channel: setting,
        text: reviewText(card),
        blocks: reviewBlocks(card),
        unfurl_links: false,
        unfurl_media: false,
        // Which request a message is about, for anyone reading the channel's history through the API.
        metadata: { event_type: REVIEW_EVENT, event_payload: { request_id: card.requestId } },
      },
      posted,
      signal,
    );
    this.history.learn(setting, res.channel);
    return { channel: res.channel, ts: res.ts };
  }

  findReview(channel: string | undefined, requestId: string, since: Date, signal?: AbortSignal): Promise<FoundPost> {
    return this.history.findReview(channel ?? this.config.reviewChannel, requestId, since, signal);
  }

  async findDirectMessage(email: string, message: DirectMessage, since: Date, signal?: AbortSignal): Promise<FoundPost> {
    const id = await this.userIdOf(email, signal);
    // No Slack account: nothing can have been posted.
    return id ? this.history.findDirect(id, message.requestId, directMessageName(message), since, signal) : undefined;
  }

  pauseBeforeReview(channel: string | undefined, requestId: string): number {
    return this.api.pauseFor('chat.postMessage', channel ?? this.config.reviewChannel, requestId);
  }

  async updateReview(ref: MessageRef, card: ReviewCard, signal?: AbortSignal): Promise<void> {
    await this.api.call('chat.update', { channel: ref.channel, ts: ref.ts, text: reviewText(card), blocks: reviewBlocks(card) }, ok, signal);
  }

  async directMessage(email: string, message: DirectMessage, signal?: AbortSignal): Promise<'sent' | 'no-account'> {
    const id = await this.userIdOf(email, signal);
    if (!id) return 'no-account';
    const { text, blocks } = directMessageBlocks(message);
    // A user id as the channel posts to the app's direct message with them.
    const metadata = { event_type: DM_EVENT, event_payload: { request_id: message.requestId, message: directMessageName(message) } };
    await this.api.call('chat.postMessage', { channel: id, text, blocks, unfurl_links: false, metadata }, posted, signal);
    return 'sent';
  }

  /** Told to one person in a channel, seen by nobody else ("you cannot approve this"). */
  async ephemeral(channel: string, user: string, text: string): Promise<void> {
    await this.api.call('chat.postEphemeral', { channel, user, text }, ok);
  }

  async openView(triggerId: string, view: Block): Promise<void> {
    await this.api.call('views.open', { trigger_id: triggerId, view }, ok);
  }

  /** The Slack user, or null when Slack has no such user. */
  async user(id: string): Promise<SlackUser | null> {
    const hit = this.users.get(id);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.user;
    const user = await this.api.call('users.info', { user: id }, userAnswer).then(
      (r) => r.user,
      (err: unknown) => {
        if (err instanceof ChatRefusedError && err.code === 'user_not_found') return null;
        throw err;
      },
    );
    remember(this.users, id, { user, at: Date.now() });
    return user;
  }

  /** The OIDC groups a Slack user counts as in, through chat.slack.approverUsergroups. */
  async groupsOf(userId: string): Promise<string[]> {
    const out: string[] = [];
    for (const [group, usergroup] of Object.entries(this.config.approverUsergroups)) {
      let hit = this.groups.get(usergroup);
      if (!hit || Date.now() - hit.at >= 60_000) {
        const { users } = await this.api.call('usergroups.users.list', { usergroup }, membersAnswer);
        hit = { members: new Set(users), at: Date.now() };
        remember(this.groups, usergroup, hit);
      }
      if (hit.members.has(userId)) out.push(group);
    }
    return out;
  }

  private async userIdOf(email: string, signal?: AbortSignal): Promise<string | null> {
    const hit = this.byEmail.get(email);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.id;
    const id = await this.api.call('users.lookupByEmail', { email }, userAnswer, signal).then(
      (r) => r.user.id,
      (err: unknown) => {
        if (err instanceof ChatRefusedError && err.code === 'users_not_found') return null;
        throw err;
      },
    );
    remember(this.byEmail, email, { id, at: Date.now() });
    return id;
  }
}

/** A bounded cache: the oldest entry goes first once it is full. */
function remember<V>(map: Map<string, V>, key: string, value: V, max = 5000): void {
  map.delete(key);
  if (map.size >= max) map.delete(map.keys().next().value as string);
  map.set(key, value);
}
