import { z } from 'zod';
import { type User, isApprover } from '../auth/roles';
import { emailSchema, normalizeEmail } from '../domain/key-request';
import { log } from '../log';
import { PortalError } from '../portal/errors';
import { renewRequest } from '../portal/renewal';
import { type PortalDeps, decide } from '../portal/requests';
import { RequestNotFoundError } from '../store/errors';
import { type CardContext, reviewCard } from './cards';
import { ACTION, DENY_VIEW, REASON_BLOCK, denyView } from './slack-blocks';
import { ReplayGuard, verifySlackSignature } from './slack-signature';
import type { SlackChat } from './slack';

/**
 * `POST /api/slack/interactions`: Slack's button clicks and modal submissions. The signature is
 * checked on the raw bytes first (401 for a forged or stale one); the same signed bytes twice are
 * acknowledged and ignored; the answer goes back at once (Slack waits three seconds) and the work
 * runs after it. A Slack user acts as the portal user with the same confirmed email, under the
 * same policy, stages and four-eyes rules as in the browser; whoever may not act is told so in a
 * message only they see, and nothing changes.
 */

export interface InteractionDeps {
  slack: SlackChat;
  signingSecret: string;
  portal: PortalDeps;
  cards: CardContext;
  replays: ReplayGuard;
  now?: () => number;
}

export interface InteractionAnswer {
  status: number;
  body: unknown;
  /** The work, to run after the answer is sent. */
  later?: () => Promise<void>;
}

const idSchema = z.string().regex(/^[a-z2-7]{12}$/);
const userRef = z.object({ id: z.string().min(1).max(40) });
const blockActions = z.object({
  type: z.literal('block_actions'),
  user: userRef,
  trigger_id: z.string().optional(),
  container: z.object({ channel_id: z.string().optional(), message_ts: z.string().optional() }).optional(),
  channel: z.object({ id: z.string() }).optional(),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() })).min(1),
});
const viewSubmission = z.object({
  type: z.literal('view_submission'),
  user: userRef,
  view: z.object({
    callback_id: z.string(),
    private_metadata: z.string(),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), z.object({ value: z.string().nullish() }))) }),
  }),
});
const payloadSchema = z.discriminatedUnion('type', [blockActions, viewSubmission]);
const denyMetadata = z.object({ requestId: idSchema, channel: z.string(), ts: z.string() });

const ack = (body: unknown = {}): InteractionAnswer => ({ status: 200, body });

export async function handleSlackInteraction(deps: InteractionDeps, rawBody: string, headers: { timestamp: string | null; signature: string | null }): Promise<InteractionAnswer> {
  const now = deps.now?.() ?? Date.now();
  const verdict = verifySlackSignature(rawBody, headers.timestamp, headers.signature, deps.signingSecret, now);
  if (!verdict.ok) {
    const why = { missing: 'X-Slack-Signature and X-Slack-Request-Timestamp are missing or malformed', stale: 'X-Slack-Request-Timestamp is more than five minutes from the server clock', mismatch: 'X-Slack-Signature does not match the body' }[verdict.why];
    return { status: 401, body: { error: { code: `signature_${verdict.why}`, message: why } } };
  }
  if (!deps.replays.firstSight(headers.signature as string, now)) {
    log('warn', 'slack: a signed interaction arrived twice; acknowledged, not acted on again');
    return ack();
  }
  const raw = new URLSearchParams(rawBody).get('payload');
  let json: unknown;
  try {
    json = JSON.parse(raw ?? '');
  } catch {
    return { status: 400, body: { error: { code: 'invalid', message: 'payload: expected the JSON Slack sends in the payload form field' } } };
  }
  const parsed = payloadSchema.safeParse(json);
  // Shortcuts, message actions and the rest are not ours: acknowledged, nothing done.
  if (!parsed.success) return ack();
  const p = parsed.data;
  if (p.type === 'view_submission') return submitted(deps, p);
  const action = p.actions[0];
  const id = idSchema.safeParse(action?.value);
  if (!action || !id.success) return ack();
  const channel = p.container?.channel_id ?? p.channel?.id;
  const ts = p.container?.message_ts;
  const where = { user: p.user.id, channel, ts };
  if (action.action_id === ACTION.approve) return { ...ack(), later: () => approve(deps, id.data, where) };
  if (action.action_id === ACTION.deny && p.trigger_id && channel && ts) return { ...ack(), later: () => askWhy(deps, id.data, p.trigger_id as string, { channel, ts }) };
  if (action.action_id === ACTION.renew) return { ...ack(), later: () => renew(deps, id.data, where) };
  return ack();
}

type Where = { user: string; channel: string | undefined; ts: string | undefined };

/** The Slack user as a portal user: their confirmed email, the groups their Slack user groups map to. */
async function personOf(deps: InteractionDeps, slackUser: string): Promise<User | { refused: string }> {
  const u = await deps.slack.user(slackUser);
  if (!u || u.deleted || u.is_bot) return { refused: 'Keyportal does not know this Slack account.' };
  const email = emailSchema.safeParse(u.profile?.email);
  if (!email.success) return { refused: 'Your Slack profile shows no email address Keyportal can read, so it cannot tell who you are. Decide in Keyportal instead.' };
  if (u.is_email_confirmed === false) return { refused: 'Your Slack email address is not confirmed, so Keyportal cannot tell who you are. Confirm it in Slack, or decide in Keyportal.' };
  const address = normalizeEmail(email.data);
  if (await deps.portal.people?.offboarded(address)) return { refused: 'Your access to Keyportal was withdrawn.' };
  const groups = await deps.slack.groupsOf(slackUser);
  return { email: address, groups, approver: isApprover(deps.portal.config.approvals.approvers, address, groups) };
}

async function tell(deps: InteractionDeps, where: Pick<Where, 'user' | 'channel'>, text: string): Promise<void> {
  if (!where.channel) return;
  await deps.slack.ephemeral(where.channel, where.user, text).catch((err: unknown) => log('warn', 'slack: could not answer a click', { error: (err as Error).message }));
}

/** The message is brought up to date now (the loop would, a moment later). */
async function refresh(deps: InteractionDeps, id: string, where: Pick<Where, 'channel' | 'ts'>): Promise<void> {
  if (!where.channel || !where.ts) return;
  const r = await deps.portal.store.get(id);
  await deps.slack.updateReview({ channel: where.channel, ts: where.ts }, await reviewCard(deps.cards, r)).catch((err: unknown) => log('warn', 'slack: could not bring a message up to date', { error: (err as Error).message }));
}

async function review(deps: InteractionDeps, id: string, where: Where, decision: 'approve' | 'deny', reason?: string): Promise<void> {
  const person = await personOf(deps, where.user);
  if ('refused' in person) return tell(deps, where, person.refused);
  try {
    const after = await decide(deps.portal, person, id, decision, reason, undefined, 'slack');
    await tell(deps, where, after.state === 'in-review' ? `Your ${decision === 'approve' ? 'approval' : 'denial'} is recorded: ${after.review.progress ?? 'in review'}.` : `Done: the request is now ${after.state}.`);
  } catch (err) {
    if (!(err instanceof PortalError) && !(err instanceof RequestNotFoundError)) throw err;
    const message = err instanceof PortalError && err.status === 403 ? `You cannot ${decision} this: ${err.message}.` : `Nothing changed: ${err.message}.`;
    await tell(deps, where, message);
    if (err instanceof PortalError && err.status === 409) await refresh(deps, id, where);
  }
}

const approve = (deps: InteractionDeps, id: string, where: Where) => review(deps, id, where, 'approve').catch(failed);

async function askWhy(deps: InteractionDeps, id: string, trigger: string, message: { channel: string; ts: string }): Promise<void> {
  try {
    // The trigger lasts three seconds: the modal opens first, who may deny is checked on submit.
    const r = await deps.portal.store.get(id);
    const card = await reviewCard(deps.cards, r);
    await deps.slack.openView(trigger, denyView(card, message));
  } catch (err) {
    failed(err);
  }
}

function submitted(deps: InteractionDeps, p: z.infer<typeof viewSubmission>): InteractionAnswer {
  if (p.view.callback_id !== DENY_VIEW) return ack();
  let meta: z.infer<typeof denyMetadata>;
  try {
    meta = denyMetadata.parse(JSON.parse(p.view.private_metadata));
  } catch {
    return ack();
  }
  const reason = Object.values(p.view.state.values[REASON_BLOCK] ?? {})[0]?.value?.trim() ?? '';
  // Answered inside the three seconds, in the modal, before anything is written.
  if (!reason) return ack({ response_action: 'errors', errors: { [REASON_BLOCK]: 'Say why: the requester reads it.' } });
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(reason)) return ack({ response_action: 'errors', errors: { [REASON_BLOCK]: 'A reason cannot hold control characters.' } });
  const where = { user: p.user.id, channel: meta.channel, ts: meta.ts };
  return { ...ack(), later: () => review(deps, meta.requestId, where, 'deny', reason.slice(0, 500)).catch(failed) };
}

async function renew(deps: InteractionDeps, id: string, where: Where): Promise<void> {
  try {
    const person = await personOf(deps, where.user);
    if ('refused' in person) return await tell(deps, where, person.refused);
    const request = await renewRequest(deps.portal, person, id);
    const url = new URL(`requests/${request.id}`, deps.cards.portalUrl.endsWith('/') ? deps.cards.portalUrl : `${deps.cards.portalUrl}/`).toString();
    await tell(deps, where, `Renewal requested: ${url} (it is ${request.state}).`);
  } catch (err) {
    if (err instanceof PortalError || err instanceof RequestNotFoundError) return tell(deps, where, `Nothing changed: ${err.message}.`);
    failed(err);
  }
}

/** Work after the answer has no caller to throw to: logged (Slack down, a bug), never lost silently. */
function failed(err: unknown): void {
  log('error', 'slack: an interaction could not be completed', { error: err instanceof Error ? err.message : String(err) });
}
