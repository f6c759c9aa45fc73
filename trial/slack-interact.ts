import { type Json, type OpenedView, type SlackUserSpec, type SlackWorkspace, type StoredMessage, isObject, slackId, str, withIds } from './slack-workspace';

/**
 * The payloads Slack sends an app's Request URL when a person acts, following "Handling user
 * interaction" (https://api.slack.com/interactivity/handling), the block_actions payload
 * (https://api.slack.com/reference/interaction-payloads/block-actions) and the view_submission
 * payload (https://api.slack.com/reference/interaction-payloads/views), and what Slack does with
 * a POST to a payload's response_url ("Handling user interaction", "Message responses").
 */

/** Where a response_url leads: the message that was clicked and who clicked it. */
export interface ResponseTarget {
  channel: string;
  messageTs: string;
  user: string;
}

/** A POST the app made to a response_url, as it came. */
export interface ResponsePost extends ResponseTarget {
  id: string;
  at: number;
  body: unknown;
}

export interface ClickArgs {
  /** Who clicks: a user the test added. */
  user: string;
  /** Where the message is: an id, `#name`, a name, or the user's id for the app's DM with them. */
  channel: string;
  messageTs: string;
  actionId: string;
  /** The button's value; must match the button's own when given (a click carries the button's value). */
  value?: string;
  /** Narrows the search to one block (when two blocks hold the same action_id). */
  blockId?: string;
  /**
   * Clicks on an older rendering of the message (an index into its history, 0 = as posted): a
   * person whose client has not yet shown the update can still press a button that is gone.
   */
  rendering?: number;
}

export interface SubmitArgs {
  /** A view the app opened with views.open: its id, or the record in `views`. */
  view: string | { id: string };
  /**
   * What the person typed: `{ [block_id]: { [action_id]: value } }`; a string is a
   * plain_text_input's value, an object is used as the element's state as is (for selects).
   */
  values?: Record<string, Record<string, string | Json>>;
  /** Who submits; by default whoever the modal was opened for. */
  user?: string;
}

function userOf(ws: SlackWorkspace, id: string): SlackUserSpec {
  const u = ws.users.get(id);
  if (!u) throw new Error(`the Slack double has no user ${id}: add it with addUser()`);
  return u;
}

function payloadUser(ws: SlackWorkspace, u: SlackUserSpec): Json {
  const name = ws.userName(u);
  return { id: u.id, username: name, name, team_id: ws.team.id };
}

/** The interactive element with this action_id on a message (in an actions block or a section's accessory). */
function findElement(m: StoredMessage, actionId: string, blockId: string | undefined): { element: Json; blockId: string } | undefined {
  for (const block of m.blocks ?? []) {
    if (blockId !== undefined && block.block_id !== blockId) continue;
    const candidates = [...(Array.isArray(block.elements) ? block.elements : []), block.accessory];
    const element = candidates.find((e): e is Json => isObject(e) && e.action_id === actionId);
    if (element) return { element, blockId: String(block.block_id) };
  }
  return undefined;
}

/**
 * A block_actions payload for a click on a button of a message the app posted. Throws when the
 * message or the button is not there: Slack can only send clicks on what a person can see.
 */
export function blockActionsPayload(ws: SlackWorkspace, a: ClickArgs, ids: { triggerId: string; responseUrl: string; verificationToken: string }): { payload: Json; target: ResponseTarget } {
  const user = userOf(ws, a.user);
  const channel = ws.resolve(a.channel, false);
  if (!channel) throw new Error(`the Slack double has no channel ${a.channel}`);
  const current = ws.message(channel.id, a.messageTs);
  if (!current || current.deleted) throw new Error(`no message ${a.messageTs} in ${channel.id}`);
  const seen = a.rendering === undefined ? undefined : current.history[a.rendering];
  if (a.rendering !== undefined && !seen) throw new Error(`message ${a.messageTs} has no rendering ${a.rendering} (it has ${current.history.length})`);
  const message: StoredMessage = seen ? { ...current, text: seen.text, ...(seen.blocks ? { blocks: seen.blocks } : {}) } : current;
  const found = findElement(message, a.actionId, a.blockId);
  if (!found) throw new Error(`message ${a.messageTs} has no element with action_id ${a.actionId}${a.blockId ? ` in block ${a.blockId}` : ''}`);
  const ownValue = str(found.element.value);
  if (a.value !== undefined && a.value !== ownValue) throw new Error(`the button ${a.actionId} carries value ${JSON.stringify(ownValue)}, not ${JSON.stringify(a.value)}`);
  const action: Json = {
    action_id: a.actionId,
    block_id: found.blockId,
    text: found.element.text,
    ...(ownValue === undefined ? {} : { value: ownValue }),
    ...(found.element.style ? { style: found.element.style } : {}),
    type: found.element.type,
    action_ts: ws.nextTs(),
  };
  const payload: Json = {
    type: 'block_actions',
    user: payloadUser(ws, user),
    api_app_id: ws.bot.appId,
    token: ids.verificationToken,
    container: { type: 'message', message_ts: message.ts, channel_id: channel.id, is_ephemeral: false },
    trigger_id: ids.triggerId,
    team: { id: ws.team.id, domain: ws.team.domain },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: channel.id, name: channel.kind === 'im' ? 'directmessage' : channel.name },
    message: ws.messageObject(message),
    state: { values: {} },
    response_url: ids.responseUrl,
    actions: [action],
  };
  return { payload, target: { channel: channel.id, messageTs: message.ts, user: user.id } };
}

/**
 * A view_submission payload for a modal the app opened: its callback_id, private_metadata and
 * hash as views.open answered them, and `state.values` holding every input block (null where the
 * person typed nothing, as Slack sends). Throws for a value aimed at an input the view lacks.
 */
export function viewSubmissionPayload(ws: SlackWorkspace, opened: OpenedView, a: SubmitArgs, ids: { triggerId: string; verificationToken: string }): Json {
  const user = userOf(ws, a.user ?? opened.user);
  const values: Record<string, Record<string, Json>> = {};
  for (const block of (opened.view.blocks as Json[] | undefined) ?? []) {
    if (block.type !== 'input' || !isObject(block.element)) continue;
    const actionId = String(block.element.action_id);
    values[String(block.block_id)] = { [actionId]: { type: block.element.type, value: null } };
  }
  for (const [blockId, byAction] of Object.entries(a.values ?? {})) {
    for (const [actionId, v] of Object.entries(byAction)) {
      const slot = values[blockId]?.[actionId];
      if (!slot) throw new Error(`view ${opened.id} has no input ${blockId}/${actionId}`);
      if (typeof v !== 'string') values[blockId] = { ...values[blockId], [actionId]: v };
      else if (slot.type === 'plain_text_input') slot.value = v;
      else throw new Error(`input ${blockId}/${actionId} is a ${String(slot.type)}: give its state as an object`);
    }
  }
  return {
    type: 'view_submission',
    team: { id: ws.team.id, domain: ws.team.domain },
    user: payloadUser(ws, user),
    api_app_id: ws.bot.appId,
    token: ids.verificationToken,
    trigger_id: ids.triggerId,
    view: { ...opened.view, state: { values } },
    response_urls: [],
    enterprise: null,
    is_enterprise_install: false,
  };
}

/**
 * What Slack does with a POST to a response_url: `delete_original` removes the message,
 * `replace_original` edits it, `response_type: "in_channel"` posts a new message, and anything
 * else is an ephemeral message to the person who clicked. Answers an error code, or undefined.
 */
export function applyResponse(ws: SlackWorkspace, target: ResponseTarget, body: Json): string | undefined {
  const original = ws.message(target.channel, target.messageTs);
  if (body.delete_original === true || body.delete_original === 'true') {
    if (original) original.deleted = true;
    return undefined;
  }
  const content = ws.content(body);
  if (!content.ok) return content.error;
  if (!content.text && !content.blocks?.length) return 'no_text';
  if ((body.replace_original === true || body.replace_original === 'true') && original) {
    ws.edit(original, content.text, content.blocks, 'response_url');
  } else if (body.response_type === 'in_channel') {
    ws.store(target.channel, content.text ?? '', content.blocks, 'response_url', str(body.thread_ts));
  } else {
    ws.ephemerals.push({ channel: target.channel, user: target.user, ts: ws.nextTs(), text: content.text ?? '', blocks: content.blocks, at: Date.now(), via: 'response_url' });
  }
  return undefined;
}

/** What a view_submission answer does to the modal ("Modals": closing, updating, pushing views). */
export function applySubmissionAnswer(ws: SlackWorkspace, opened: OpenedView, status: number, body: string): void {
  if (status !== 200) return;
  let answer: unknown = {};
  try {
    answer = body.trim() ? JSON.parse(body) : {};
  } catch {
    return; // not JSON: Slack shows the person an error and the modal stays
  }
  if (!isObject(answer)) return;
  const action = answer.response_action;
  if (action === undefined || action === 'clear') {
    // An empty acknowledgement closes the submitted view; clear closes the whole stack.
    for (const v of ws.views) if (v.id === opened.id || (action === 'clear' && v.view.root_view_id === opened.view.root_view_id)) v.closed = true;
  } else if ((action === 'update' || action === 'push') && isObject(answer.view)) {
    const id = action === 'update' ? opened.id : slackId('V');
    const blocks = Array.isArray(answer.view.blocks) ? withIds(answer.view.blocks as Json[]) : opened.view.blocks;
    const view: Json = { ...opened.view, ...answer.view, blocks, id, hash: `${Math.floor(Date.now() / 1000)}.${slackId('', 8).toLowerCase()}`, state: { values: {} } };
    if (action === 'update') opened.view = view;
    else ws.views.push({ id, triggerId: opened.triggerId, user: opened.user, at: Date.now(), view: { ...view, previous_view_id: opened.id }, closed: false });
  }
}
