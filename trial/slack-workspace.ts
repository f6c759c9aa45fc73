import { randomBytes } from 'node:crypto';

/**
 * The state of the Slack workspace the double plays: users, channels and the app's DMs,
 * usergroups, the messages the app posted (with every edit), ephemeral messages, opened views
 * and issued trigger_ids; and Slack's object shapes for them (the message object,
 * https://api.slack.com/events/message; the user object, https://api.slack.com/types/user).
 * Slack gives blocks it was sent without a block_id (or elements without an action_id) ids of its
 * own; the double does too, so a test reads them from the stored message or view.
 */

export type Json = Record<string, unknown>;

export interface SlackUserSpec {
  id: string;
  /** The handle (`name`); defaults to the email's local part, else the id in lower case. */
  name?: string;
  realName?: string;
  displayName?: string;
  /** Left out for a user whose address the app may not see (no users:read.email): no `profile.email`. */
  email?: string;
  /** Only in the answer when set, as Slack leaves it out for some users. */
  isEmailConfirmed?: boolean;
  isBot?: boolean;
  /** Deactivated: users.info still answers (with `deleted: true`); users.lookupByEmail does not. */
  deleted?: boolean;
  tz?: string;
}

export interface SlackChannelSpec {
  id: string;
  name: string;
  /** Who is in it; undefined means every known user. */
  members?: string[];
  archived?: boolean;
  /** Whether the app was invited (default true); if not, posting is `not_in_channel`. */
  botIsMember?: boolean;
  /** A private channel: conversations.list shows it only to a member, under `private_channel`. */
  private?: boolean;
}

export interface SlackUsergroupSpec {
  id: string;
  handle?: string;
  users: string[];
}

/** A conversation as the double keeps it: a channel the test added, or a DM (`D…`) or group DM it opened. */
export interface Conversation extends SlackChannelSpec {
  kind: 'channel' | 'im' | 'mpim';
  /** The other person in a DM. */
  user?: string;
}

export interface MessageVersion {
  text: string;
  blocks?: Json[];
  at: number;
  via: 'chat.postMessage' | 'chat.update' | 'response_url';
}

export interface StoredMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  text: string;
  blocks?: Json[];
  metadata?: Json;
  deleted: boolean;
  /** When last edited, as Slack's `edited.ts`. */
  editedTs?: string;
  /** Every version, oldest (the post) first; updates append. */
  history: MessageVersion[];
}

export interface Ephemeral {
  channel: string;
  user: string;
  ts: string;
  text: string;
  blocks?: Json[];
  at: number;
  via: 'chat.postEphemeral' | 'response_url';
}

export interface OpenedView {
  id: string;
  triggerId: string;
  /** Who the trigger was issued to: the modal shows on their screen. */
  user: string;
  at: number;
  /** The view object views.open answered (ids filled in). */
  view: Json;
  /** Closed by a submission the app answered with an empty 200 or `response_action: "clear"`. */
  closed: boolean;
}

export interface Trigger {
  id: string;
  user: string;
  issuedAt: number;
  usedAt?: number;
}

export function slackId(prefix: string, length = 10): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return prefix + [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A JSON-typed argument: an object or array as JSON sends it, or a string as a form or query does. */
export function jsonArg(v: unknown): { value: unknown; bad: boolean } {
  if (typeof v !== 'string') return { value: v, bad: false };
  try {
    return { value: JSON.parse(v), bad: false };
  } catch {
    return { value: undefined, bad: true };
  }
}

export class SlackWorkspace {
  readonly team = { id: 'T0KEYPORTAL', name: 'Keyportal Test', domain: 'keyportal-test' };
  readonly bot = { userId: 'U0KPBOT0001', botId: 'B0KPBOT0001', appId: 'A0KPAPP0001', name: 'keyportal' };
  readonly users = new Map<string, SlackUserSpec>();
  /** Channels the test added, and the DMs the double opened (by id). */
  readonly channels = new Map<string, Conversation>();
  readonly usergroups = new Map<string, SlackUsergroupSpec>();
  readonly messages: StoredMessage[] = [];
  readonly ephemerals: Ephemeral[] = [];
  readonly views: OpenedView[] = [];
  /** How long a trigger_id is good for ("3 seconds"); a test may shorten it to see expired_trigger_id. */
  triggerTtlMs = 3000;
  /** Every trigger_id issued, by id (views.open exchanges them). */
  readonly triggers = new Map<string, Trigger>();
  private lastTs = 0;

  constructor() {
    this.addUser({ id: this.bot.userId, name: this.bot.name, realName: this.bot.name, isBot: true });
  }

  addUser(user: SlackUserSpec): SlackUserSpec {
    this.users.set(user.id, user);
    return user;
  }

  addChannel(channel: SlackChannelSpec): Conversation {
    const c: Conversation = { botIsMember: true, archived: false, ...channel, kind: 'channel' };
    this.channels.set(c.id, c);
    return c;
  }

  addUsergroup(group: SlackUsergroupSpec): SlackUsergroupSpec {
    this.usergroups.set(group.id, group);
    return group;
  }

  /** The app's DM with a user (opened on first use, as Slack does on a post to a user's id). */
  dmWith(userId: string): Conversation {
    const open = [...this.channels.values()].find((c) => c.kind === 'im' && c.user === userId);
    if (open) return open;
    const dm: Conversation = { id: slackId('D'), name: '', kind: 'im', user: userId, members: [userId, this.bot.userId], botIsMember: true, archived: false };
    this.channels.set(dm.id, dm);
    return dm;
  }

  /** Messages in a channel (by id, `#name` or name), oldest first, as they stand now. */
  messagesIn(channel: string): StoredMessage[] {
    const id = this.resolve(channel, false)?.id ?? channel;
    return this.messages.filter((m) => m.channel === id);
  }

  /** One message with its edit history (`history`), or undefined. */
  message(channel: string, ts: string): StoredMessage | undefined {
    return this.messagesIn(channel).find((m) => m.ts === ts);
  }

  /** Messages the app posted into its DM with this user (by the `U…` or the `D…` it answered). */
  dmsTo(userId: string): StoredMessage[] {
    const dm = this.resolve(userId, false);
    return dm?.kind === 'im' ? this.messagesIn(dm.id) : [];
  }

  /** Slack's message object for a stored message (what chat.postMessage answers and payloads carry). */
  messageObject(m: StoredMessage): Json {
    return {
      type: 'message',
      user: this.bot.userId,
      bot_id: this.bot.botId,
      app_id: this.bot.appId,
      text: m.text,
      ts: m.ts,
      team: this.team.id,
      ...(m.blocks ? { blocks: m.blocks } : {}),
      ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
      ...(m.metadata ? { metadata: m.metadata } : {}),
      ...(m.editedTs ? { edited: { user: this.bot.userId, ts: m.editedTs } } : {}),
    };
  }

  /** Slack's user object: users.info and users.lookupByEmail answer this shape. */
  userObject(u: SlackUserSpec): Json {
    const name = this.userName(u);
    const realName = u.realName ?? name;
    const displayName = u.displayName ?? '';
    return {
      id: u.id,
      team_id: this.team.id,
      name,
      deleted: Boolean(u.deleted),
      real_name: realName,
      tz: u.tz ?? 'Europe/London',
      is_bot: Boolean(u.isBot),
      is_app_user: false,
      ...(u.isEmailConfirmed === undefined ? {} : { is_email_confirmed: u.isEmailConfirmed }),
      profile: {
        real_name: realName,
        real_name_normalized: realName,
        display_name: displayName,
        display_name_normalized: displayName,
        ...(u.email ? { email: u.email } : {}),
        team: this.team.id,
      },
    };
  }

  userName(u: SlackUserSpec): string {
    return u.name ?? u.email?.split('@')[0] ?? u.id.toLowerCase();
  }

  /**
   * A conversation named the way chat.postMessage takes `channel`: an id, `#name` or a bare name,
   * or a user's id, which means the app's DM with them (opened now unless `open` is false).
   */
  resolve(ref: string | undefined, open = true): Conversation | undefined {
    if (!ref) return undefined;
    if (ref.startsWith('#')) return this.byName(ref.slice(1));
    const byId = this.channels.get(ref);
    if (byId) return byId;
    if (/^[UW][A-Z0-9]+$/.test(ref) && this.users.has(ref)) {
      return open ? this.dmWith(ref) : [...this.channels.values()].find((c) => c.kind === 'im' && c.user === ref);
    }
    return this.byName(ref);
  }

  /** Issues a trigger_id to `user`, as an interaction does; views.open takes it once within triggerTtlMs. */
  issueTrigger(user: string): string {
    const id = `${Math.floor(Date.now() / 1000)}.${Date.now() % 1_000_000}.${randomBytes(16).toString('hex')}`;
    this.triggers.set(id, { id, user, issuedAt: Date.now() });
    return id;
  }

  /** A `ts` as Slack writes one: seconds, a dot, six digits; unique and increasing. */
  nextTs(): string {
    const micros = Math.max(Date.now() * 1000, this.lastTs + 1);
    this.lastTs = micros;
    return `${Math.floor(micros / 1_000_000)}.${String(micros % 1_000_000).padStart(6, '0')}`;
  }

  byName(name: string): Conversation | undefined {
    return [...this.channels.values()].find((c) => c.kind === 'channel' && c.name === name);
  }

  isMember(c: Conversation, user: string): boolean {
    if (c.members) return c.members.includes(user);
    return this.users.has(user);
  }

  /** Keeps a new message posted by the app (text past 40,000 characters truncated, as Slack does). */
  store(channel: string, text: string, blocks: Json[] | undefined, via: MessageVersion['via'], threadTs?: string): StoredMessage {
    const kept = text.slice(0, 40_000);
    const m: StoredMessage = { channel, ts: this.nextTs(), text: kept, blocks, deleted: false, history: [{ text: kept, blocks, at: Date.now(), via }] };
    if (threadTs) m.threadTs = threadTs;
    this.messages.push(m);
    return m;
  }

  /** Applies an edit: text given without blocks drops the old blocks; blocks without text keep the old text. */
  edit(m: StoredMessage, text: string | undefined, blocks: Json[] | undefined, via: MessageVersion['via']): void {
    m.text = text ?? m.text;
    m.blocks = blocks ?? (text === undefined ? m.blocks : undefined);
    m.editedTs = this.nextTs();
    m.history.push({ text: m.text, blocks: m.blocks, at: Date.now(), via });
  }

  /** text and blocks as a message method takes them; blocks as JSON or a JSON string. */
  content(args: Json): { ok: true; text?: string; blocks?: Json[] } | { ok: false; error: string } {
    const text = str(args.text);
    if (args.blocks === undefined) return { ok: true, text };
    const { value, bad } = jsonArg(args.blocks);
    if (bad || !Array.isArray(value)) return { ok: false, error: 'invalid_blocks_format' };
    if (value.length > 50 || !value.every((b) => isObject(b) && typeof b.type === 'string')) return { ok: false, error: 'invalid_blocks' };
    return { ok: true, text, blocks: withIds(value as Json[]) };
  }

}

/** Copies of the blocks with the block_id and action_id Slack fills in where the app left them out. */
export function withIds(blocks: Json[]): Json[] {
  // Interactive elements only: an image accessory has no action_id.
  const element = (e: unknown) => (isObject(e) && e.action_id === undefined && typeof e.type === 'string' && e.type !== 'image' ? { ...e, action_id: slackId('', 5) } : e);
  return blocks.map((b) => {
    const copy: Json = { ...b, block_id: b.block_id ?? slackId('', 5) };
    if (Array.isArray(b.elements) && b.type === 'actions') copy.elements = b.elements.map(element);
    if (b.accessory !== undefined) copy.accessory = element(b.accessory);
    if (b.element !== undefined) copy.element = element(b.element);
    return copy;
  });
}
