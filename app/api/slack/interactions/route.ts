import { after } from 'next/server';
import { handleSlackInteraction } from '@/lib/chat/slack-interactions';
import { readBody } from '@/lib/http/body';
import { slackDeps } from '@/lib/http/context';
import { handle, json } from '@/lib/http/respond';
import { PortalError } from '@/lib/portal/errors';

/** Slack's interactions (button clicks, modal submissions); Slack's own signature, no session. */
export function POST(req: Request) {
  return handle(async () => {
    const deps = slackDeps();
    if (!deps) throw new PortalError(503, 'not_configured', 'Slack is not configured here: set chat.slack, SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET');
    // A click carries the whole message it was on: more than the 16 KB other bodies get.
    const raw = await readBody(req, 256 * 1024);
    const answer = await handleSlackInteraction(deps, raw, { timestamp: req.headers.get('x-slack-request-timestamp'), signature: req.headers.get('x-slack-signature') });
    // The answer goes back now (Slack waits three seconds); the work runs after it.
    if (answer.later) after(answer.later);
    return json(answer.body, answer.status);
  });
}
