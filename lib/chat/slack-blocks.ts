import type { DirectMessage, ReviewCard } from './types';

/**
 * Block Kit for the review message, the deny modal and the direct messages
 * (https://api.slack.com/reference/block-kit). Whatever a person typed (a justification, a
 * reason, an email) is escaped for mrkdwn (`&`, `<`, `>`), so it can neither link nor mention
 * (`<!channel>`), and cut to Slack's limits. The minted key is never part of any of it.
 */

export const ACTION = { approve: 'keyportal_approve', deny: 'keyportal_deny', renew: 'keyportal_renew', open: 'keyportal_open' } as const;
export const DENY_VIEW = 'keyportal_deny';
export const REASON_BLOCK = 'reason';

export type Block = Record<string, unknown>;

/** Slack's mrkdwn escaping: only these three have meaning of their own. */
export const escapeMrkdwn = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const cut = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);
const md = (s: string, max = 2900) => ({ type: 'mrkdwn', text: cut(s, max) });
const plain = (s: string, max = 150) => ({ type: 'plain_text', text: cut(s, max), emoji: false });
/** A link whose label a person may have typed: the URL is ours, the label escaped. */
const link = (url: string, label: string) => `<${url}|${escapeMrkdwn(label).replace(/\|/g, '¦')}>`;

const OUTCOME_WORDS: Record<string, string> = { approved: 'Approved', issued: 'Approved and issued', denied: 'Denied', failed: 'Approved, but the gateway refused it', revoked: 'Revoked', expired: 'Expired' };

function status(card: ReviewCard): string {
  if (card.outcome) {
    const mark = card.outcome.state === 'denied' || card.outcome.state === 'failed' ? ':no_entry:' : card.outcome.state === 'revoked' || card.outcome.state === 'expired' ? ':hourglass:' : ':white_check_mark:';
    const words = OUTCOME_WORDS[card.outcome.state] ?? card.outcome.state;
    return `${mark} *${words}* by ${escapeMrkdwn(card.outcome.by)}${card.outcome.reason ? `: ${escapeMrkdwn(card.outcome.reason)}` : ''}`;
  }
  return `:hourglass_flowing_sand: ${escapeMrkdwn(card.progress ?? 'waiting for review')}`;
}

/** The one-line text Slack shows in notifications and where blocks cannot be shown. */
export function reviewText(card: ReviewCard): string {
  const head = `${card.requester} asks for a key for ${card.modelTitle}`;
  return escapeMrkdwn(card.outcome ? `${head}: ${OUTCOME_WORDS[card.outcome.state] ?? card.outcome.state} by ${card.outcome.by}` : `${head} (${card.progress ?? 'waiting for review'})`);
}

export function reviewBlocks(card: ReviewCard): Block[] {
  const blocks: Block[] = [
    { type: 'header', text: plain(`${card.topUp ? 'Top-up' : 'Key request'}: ${card.modelTitle}`) },
    {
      type: 'section',
      fields: [
        md(`*Requester*\n${escapeMrkdwn(card.requester)}`),
        md(`*Model*\n\`${escapeMrkdwn(card.model)}\``),
        md(`*Policy*\n${escapeMrkdwn(card.policy)}`),
        md(`*Request*\n${link(card.statusUrl, card.requestId)}`),
      ],
    },
    { type: 'section', block_id: 'status', text: md(status(card)) },
  ];
  if (card.topUp) blocks.push({ type: 'section', text: md(`*Asks for*\n${escapeMrkdwn(card.topUp)}`) });
  if (card.justification) blocks.push({ type: 'section', text: md(`*Justification*\n${escapeMrkdwn(card.justification)}`) });
  blocks.push({ type: 'section', text: md(`*Keys they hold now*\n${card.currentKeys.length ? card.currentKeys.map((k) => `• ${escapeMrkdwn(k)}`).join('\n') : 'none'}`) });
  if (card.reviews.length) blocks.push({ type: 'section', text: md(`*Reviews*\n${card.reviews.map((r) => `• ${escapeMrkdwn(r)}`).join('\n')}`) });
  if (card.trace.length) blocks.push({ type: 'context', elements: [md(card.trace.map(escapeMrkdwn).join('\n'))] });
  if (!card.outcome) {
    blocks.push({
      type: 'actions',
      block_id: 'decide',
      elements: [
        { type: 'button', action_id: ACTION.approve, style: 'primary', text: plain('Approve'), value: card.requestId },
        { type: 'button', action_id: ACTION.deny, style: 'danger', text: plain('Deny'), value: card.requestId },
        { type: 'button', action_id: ACTION.open, text: plain('Open in Keyportal'), url: card.statusUrl },
      ],
    });
  }
  return blocks;
}

/** Deny asks why in a modal; `private_metadata` says which request and message it is about. */
export function denyView(card: { requestId: string; requester: string; modelTitle: string }, where: { channel: string; ts: string }): Block {
  return {
    type: 'modal',
    callback_id: DENY_VIEW,
    private_metadata: JSON.stringify({ requestId: card.requestId, channel: where.channel, ts: where.ts }),
    title: plain('Deny the request', 24),
    submit: plain('Deny', 24),
    close: plain('Cancel', 24),
    blocks: [
      { type: 'section', text: md(`Deny ${escapeMrkdwn(card.requester)}'s request for ${escapeMrkdwn(card.modelTitle)}? They are told the reason.`) },
      {
        type: 'input',
        block_id: REASON_BLOCK,
        label: plain('Reason'),
        element: { type: 'plain_text_input', action_id: REASON_BLOCK, multiline: true, max_length: 500, min_length: 1 },
      },
    ],
  };
}

export function directMessageBlocks(m: DirectMessage): { text: string; blocks: Block[] } {
  const title = escapeMrkdwn(m.modelTitle);
  const open = link(m.statusUrl, 'Open the request');
  switch (m.kind) {
    case 'issued': {
      const text = `Your key for ${title} is ready. ${open} to get it${m.expiresAt ? `; it expires ${m.expiresAt}` : ''}.${m.changes ? ` Approved with changes: ${escapeMrkdwn(m.changes)}.` : ''}`;
      return { text: `Your key for ${title} is ready`, blocks: [{ type: 'section', text: md(`:white_check_mark: ${text}`) }] };
    }
    case 'denied':
      return { text: `Your request for ${title} was denied`, blocks: [{ type: 'section', text: md(`:no_entry: Your request for ${title} was denied: ${escapeMrkdwn(m.reason)}. ${open}.`) }] };
    case 'reminder':
      return {
        text: `Your key for ${title} expires in ${m.days} day${m.days === 1 ? '' : 's'}`,
        blocks: [
          { type: 'section', text: md(`:hourglass: Your key for ${title} expires ${m.expiresAt} (in ${m.days} day${m.days === 1 ? '' : 's'}). ${open}.`) },
          { type: 'actions', block_id: 'renew', elements: [{ type: 'button', action_id: ACTION.renew, style: 'primary', text: plain('Renew'), value: m.requestId }] },
        ],
      };
  }
}
