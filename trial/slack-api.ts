import { randomBytes } from 'node:crypto';
import { type Conversation, type Json, type SlackUserSpec, type SlackWorkspace, isObject, jsonArg, slackId, str, withIds } from './slack-workspace';

/**
 * The Web API methods over the workspace (trial/slack-workspace.ts), with no HTTP (trial/slack.ts
 * serves them). Each method follows its page, https://api.slack.com/methods/<method>:
 * - auth.test; chat.postMessage (channel by id, by name, or by a user's id for the app's DM with
 *   them; text past 40,000 characters is truncated, not refused; at most 50 blocks);
 * - chat.update (the channel must be an id, a DM's `D…` and never a user's `U…`; text past 4,000
 *   characters is `msg_too_long`; text without blocks drops the old blocks);
 * - chat.postEphemeral; views.open (a trigger_id lives 3 seconds and is exchanged once; a modal's
 *   title is at most 24 characters, it holds at most 100 blocks, `submit` is required with inputs,
 *   private_metadata is at most 3,000 characters); users.info; users.lookupByEmail (a deactivated
 *   user is `users_not_found`, as its page says); usergroups.users.list; conversations.open;
 * - conversations.history (a channel id only; newest first; `oldest`/`latest` exclusive unless
 *   `inclusive`; `limit` at most 999, default 100; `has_more` and a cursor; metadata only with
 *   `include_all_metadata`; a channel the bot is not in is `not_in_channel`); conversations.list
 *   (`types`, default public_channel; `exclude_archived`; `limit` at most 1000, default 100; a cursor).
 */

/** What a method answers: Slack's envelope, `ok` and either the result or `error`. */
export type Answer = Json & { ok: boolean };

/** Methods whose page lists only `application/x-www-form-urlencoded`: Slack ignores a JSON body there. */
export const FORM_ONLY_METHODS: ReadonlySet<string> = new Set(['users.info', 'users.lookupByEmail', 'usergroups.users.list']);

/** The methods the double serves; any other is `unknown_method`. */
export const SLACK_METHODS: ReadonlySet<string> = new Set([
  'auth.test',
  'chat.postMessage',
  'chat.update',
  'chat.postEphemeral',
  'views.open',
  'users.info',
  'users.lookupByEmail',
  'usergroups.users.list',
  'conversations.open',
  'conversations.history',
  'conversations.list',
]);

/**
 * The scopes a method needs, for the methods whose scope an app may well not have been given
 * (the double checks these only, and only when it is told the app's scopes): any one of them will do.
 */
export const METHOD_SCOPES: Readonly<Record<string, readonly string[]>> = {
  'conversations.history': ['channels:history', 'groups:history', 'im:history', 'mpim:history'],
  'conversations.list': ['channels:read', 'groups:read', 'im:read', 'mpim:read'],
};

const fail = (error: string, more: Json = {}): Answer => ({ ok: false, error, ...more });

/** Runs a Web API method on `args` (already decoded from JSON, form or query); undefined for an unknown method. */
export function callMethod(ws: SlackWorkspace, method: string, args: Json): Answer | undefined {
  switch (method) {
    case 'auth.test':
      return { ok: true, url: `https://${ws.team.domain}.slack.com/`, team: ws.team.name, user: ws.bot.name, team_id: ws.team.id, user_id: ws.bot.userId, bot_id: ws.bot.botId, is_enterprise_install: false };
    case 'chat.postMessage':
      return postMessage(ws, args);
    case 'chat.update':
      return update(ws, args);
    case 'chat.postEphemeral':
      return postEphemeral(ws, args);
    case 'views.open':
      return viewsOpen(ws, args);
    case 'users.info': {
      const u = ws.users.get(str(args.user) ?? '');
      return u ? { ok: true, user: ws.userObject(u) } : fail('user_not_found');
    }
    case 'users.lookupByEmail': {
      // An exact match: no page promises case-folding, so an app should send the address as the
      // directory holds it.
      const email = str(args.email);
      const u = [...ws.users.values()].find((x) => email && x.email === email && !x.deleted);
      return u ? { ok: true, user: ws.userObject(u) } : fail('users_not_found');
    }
    case 'usergroups.users.list': {
      const g = ws.usergroups.get(str(args.usergroup) ?? '');
      return g ? { ok: true, users: [...g.users] } : fail('no_such_subteam');
    }
    case 'conversations.open':
      return conversationsOpen(ws, args);
    case 'conversations.history':
      return conversationsHistory(ws, args);
    case 'conversations.list':
      return conversationsList(ws, args);
    default:
      return undefined;
  }
}

function postMessage(ws: SlackWorkspace, args: Json): Answer {
  const c = ws.resolve(str(args.channel));
  if (!c) return fail('channel_not_found');
  if (c.archived) return fail('is_archived');
  if (!c.botIsMember) return fail('not_in_channel');
  const content = ws.content(args);
  if (!content.ok) return fail(content.error);
  if (!content.text && !content.blocks?.length) return fail('no_text');
  const metadata = parseMetadata(args);
  if (metadata === 'bad') return fail('invalid_metadata_format');
  const m = ws.store(c.id, content.text ?? '', content.blocks, 'chat.postMessage', str(args.thread_ts));
  if (metadata) m.metadata = metadata;
  return { ok: true, channel: c.id, ts: m.ts, message: ws.messageObject(m) };
}

function update(ws: SlackWorkspace, args: Json): Answer {
  const c = ws.channels.get(str(args.channel) ?? '');
  if (!c) return fail('channel_not_found');
  const m = ws.messages.find((x) => x.channel === c.id && x.ts === str(args.ts) && !x.deleted);
  if (!m) return fail('message_not_found');
  const content = ws.content(args);
  if (!content.ok) return fail(content.error);
  if (content.text === undefined && content.blocks === undefined) return fail('no_text');
  if ((content.text ?? '').length > 4000) return fail('msg_too_long');
  const metadata = parseMetadata(args);
  if (metadata === 'bad') return fail('invalid_metadata_format');
  ws.edit(m, content.text, content.blocks, 'chat.update');
  if (metadata) m.metadata = metadata;
  return { ok: true, channel: c.id, ts: m.ts, text: m.text, message: ws.messageObject(m) };
}

function postEphemeral(ws: SlackWorkspace, args: Json): Answer {
  const c = ws.resolve(str(args.channel));
  if (!c) return fail('channel_not_found');
  if (c.archived) return fail('is_archived');
  if (!c.botIsMember) return fail('not_in_channel');
  const user = str(args.user) ?? '';
  if (!ws.isMember(c, user)) return fail('user_not_in_channel');
  const content = ws.content(args);
  if (!content.ok) return fail(content.error);
  if (!content.text && !content.blocks?.length) return fail('no_text');
  const ts = ws.nextTs();
  ws.ephemerals.push({ channel: c.id, user, ts, text: content.text ?? '', blocks: content.blocks, at: Date.now(), via: 'chat.postEphemeral' });
  return { ok: true, message_ts: ts };
}

function viewsOpen(ws: SlackWorkspace, args: Json): Answer {
  const triggerId = str(args.trigger_id);
  const { value: view, bad } = jsonArg(args.view);
  const problem = !triggerId ? 'trigger_id is required' : bad || !isObject(view) ? 'view must be a JSON object' : viewProblem(view);
  // Slack names the failing field in response_metadata.messages.
  if (problem) return fail('invalid_arguments', { response_metadata: { messages: [`[ERROR] ${problem}`] } });
  const trigger = ws.triggers.get(triggerId as string);
  if (!trigger) return fail('invalid_trigger_id');
  if (trigger.usedAt !== undefined) return fail('exchanged_trigger_id');
  if (Date.now() - trigger.issuedAt > ws.triggerTtlMs) return fail('expired_trigger_id');
  trigger.usedAt = Date.now();
  const v = view as Json;
  const id = slackId('V');
  const answered: Json = {
    id,
    team_id: ws.team.id,
    type: 'modal',
    blocks: withIds(v.blocks as Json[]),
    private_metadata: str(v.private_metadata) ?? '',
    callback_id: str(v.callback_id) ?? '',
    state: { values: {} },
    hash: `${Math.floor(Date.now() / 1000)}.${randomBytes(4).toString('hex')}`,
    title: v.title,
    clear_on_close: Boolean(v.clear_on_close),
    notify_on_close: Boolean(v.notify_on_close),
    close: v.close ?? null,
    submit: v.submit ?? null,
    previous_view_id: null,
    root_view_id: id,
    app_id: ws.bot.appId,
    external_id: str(v.external_id) ?? '',
    app_installed_team_id: ws.team.id,
    bot_id: ws.bot.botId,
  };
  ws.views.push({ id, triggerId: trigger.id, user: trigger.user, at: Date.now(), view: answered, closed: false });
  return { ok: true, view: answered };
}

function conversationsOpen(ws: SlackWorkspace, args: Json): Answer {
  const raw = args.users;
  const ids = (Array.isArray(raw) ? raw.map(String) : (str(raw) ?? '').split(',')).map((s) => s.trim()).filter(Boolean);
  if (ids.length === 0) {
    const reopened = ws.channels.get(str(args.channel) ?? '');
    return reopened ? { ok: true, channel: { id: reopened.id }, no_op: true, already_open: true } : fail('users_list_not_supplied');
  }
  if (ids.some((id) => !ws.users.has(id))) return fail('user_not_found');
  if (ids.length > 8) return fail('too_many_users');
  if (ids.length === 1) {
    const existed = [...ws.channels.values()].some((c) => c.kind === 'im' && c.user === ids[0]);
    const dm = ws.dmWith(ids[0] as string);
    return { ok: true, channel: { id: dm.id }, ...(existed ? { no_op: true, already_open: true } : {}) };
  }
  const members = [...ids, ws.bot.userId].sort();
  const open = [...ws.channels.values()].find((c) => c.kind === 'mpim' && c.members?.slice().sort().join() === members.join());
  if (open) return { ok: true, channel: { id: open.id }, no_op: true, already_open: true };
  const mpim: Conversation = { id: slackId('G'), name: `mpdm-${members.map((u) => ws.userName(ws.users.get(u) as SlackUserSpec)).join('--')}-1`, kind: 'mpim', members, botIsMember: true, archived: false };
  ws.channels.set(mpim.id, mpim);
  return { ok: true, channel: { id: mpim.id } };
}

/** A cursor is the offset of the next page, as opaque to the app as Slack's. */
const cursorOf = (offset: number): string => Buffer.from(`offset:${offset}`).toString('base64');
function offsetOf(cursor: unknown): number | 'bad' {
  const text = str(cursor);
  if (!text) return 0;
  const m = /^offset:(\d+)$/.exec(Buffer.from(text, 'base64').toString('utf8'));
  return m ? Number(m[1]) : 'bad';
}
const flag = (v: unknown): boolean => v === true || v === 'true' || v === '1' || v === 1;
function limitOf(v: unknown, fallback: number, max: number): number {
  const n = Number(str(v) ?? fallback);
  return Number.isFinite(n) && n >= 1 ? Math.min(Math.floor(n), max) : fallback;
}

function conversationsHistory(ws: SlackWorkspace, args: Json): Answer {
  const c = ws.channels.get(str(args.channel) ?? '');
  if (!c) return fail('channel_not_found');
  if (!c.botIsMember) return fail('not_in_channel');
  const offset = offsetOf(args.cursor);
  if (offset === 'bad') return fail('invalid_cursor');
  const inclusive = flag(args.inclusive);
  const oldest = str(args.oldest);
  const latest = str(args.latest);
  const after = (ts: string) => (oldest === undefined ? true : inclusive ? Number(ts) >= Number(oldest) : Number(ts) > Number(oldest));
  const before = (ts: string) => (latest === undefined ? true : inclusive ? Number(ts) <= Number(latest) : Number(ts) < Number(latest));
  const metadata = flag(args.include_all_metadata);
  // Thread replies are not in a channel's history; deleted messages are gone from it.
  const all = ws.messages.filter((m) => m.channel === c.id && !m.deleted && !m.threadTs && after(m.ts) && before(m.ts)).reverse();
  const limit = limitOf(args.limit, 100, 999);
  const page = all.slice(offset, offset + limit).map((m) => {
    const { metadata: held, ...shown } = ws.messageObject(m);
    return metadata && held ? { ...shown, metadata: held } : shown;
  });
  const more = offset + limit < all.length;
  return { ok: true, messages: page, has_more: more, pin_count: 0, response_metadata: { next_cursor: more ? cursorOf(offset + limit) : '' } };
}

function conversationsList(ws: SlackWorkspace, args: Json): Answer {
  const offset = offsetOf(args.cursor);
  if (offset === 'bad') return fail('invalid_cursor');
  const types = new Set((str(args.types) ?? 'public_channel').split(',').map((s) => s.trim()));
  const kindOf = (c: Conversation) => (c.kind === 'im' ? 'im' : c.kind === 'mpim' ? 'mpim' : c.private ? 'private_channel' : 'public_channel');
  // A private channel is listed only to its members, the bot among them.
  const visible = [...ws.channels.values()].filter((c) => types.has(kindOf(c)) && !(flag(args.exclude_archived) && c.archived) && (kindOf(c) !== 'private_channel' || c.botIsMember));
  const limit = limitOf(args.limit, 100, 1000);
  const page = visible.slice(offset, offset + limit).map((c) => ({
    id: c.id,
    ...(c.kind === 'channel' ? { name: c.name, is_channel: !c.private, is_group: Boolean(c.private), is_private: Boolean(c.private), is_member: c.botIsMember !== false } : { is_im: c.kind === 'im', is_mpim: c.kind === 'mpim' }),
    is_archived: Boolean(c.archived),
  }));
  const more = offset + limit < visible.length;
  return { ok: true, channels: page, response_metadata: { next_cursor: more ? cursorOf(offset + limit) : '' } };
}

/** Message metadata: `{event_type, event_payload}`; undefined when absent, 'bad' when malformed. */
function parseMetadata(args: Json): Json | undefined | 'bad' {
  if (args.metadata === undefined) return undefined;
  const { value, bad } = jsonArg(args.metadata);
  if (bad || !isObject(value) || typeof value.event_type !== 'string' || !isObject(value.event_payload)) return 'bad';
  return value;
}

/** What views.open refuses in a modal, per "Modal views" (https://api.slack.com/reference/surfaces/views). */
function viewProblem(v: Json): string | undefined {
  if (v.type !== 'modal') return 'view.type must be "modal"';
  const title = v.title;
  if (!isObject(title) || title.type !== 'plain_text' || typeof title.text !== 'string') return 'view.title must be a plain_text object';
  if (title.text.length > 24) return 'view.title.text must be at most 24 characters';
  if (!Array.isArray(v.blocks)) return 'view.blocks is required';
  if (v.blocks.length > 100) return 'view.blocks may hold at most 100 blocks';
  if (!v.blocks.every((b) => isObject(b) && typeof b.type === 'string')) return 'every block needs a type';
  if (v.blocks.some((b) => (b as Json).type === 'input') && !v.submit) return 'view.submit is required when the view has input blocks';
  if (typeof v.private_metadata === 'string' && v.private_metadata.length > 3000) return 'view.private_metadata must be at most 3000 characters';
  if (typeof v.callback_id === 'string' && v.callback_id.length > 255) return 'view.callback_id must be at most 255 characters';
  return undefined;
}

