import type { ClickArgs } from './slack-interact';
import type { Json, SlackWorkspace } from './slack-workspace';

/**
 * The Slack double's test controls over HTTP, under `/_test/` (nothing Slack has): for tests in
 * another process than the double (Playwright's workers), what a person sees and clicks.
 *
 * - `GET /_test/messages?channel=C…`: the channel's messages, oldest first;
 * - `GET /_test/dms?user=U…`: the app's direct messages to that user;
 * - `POST /_test/click` with a JSON ClickArgs: the person clicks; answers the app's status and body.
 */
export interface ControlTarget extends SlackWorkspace {
  clickButton(a: ClickArgs): Promise<{ status: number; body: unknown }>;
}

type Send = (status: number, payload: unknown) => void;

export async function answerControl(slack: ControlTarget, url: URL, method: string | undefined, raw: string, send: Send): Promise<void> {
  const view = (m: { ts: string; text: string; blocks?: Json[]; metadata?: Json; deleted: boolean }) => ({ ts: m.ts, text: m.text, blocks: m.blocks ?? [], metadata: m.metadata ?? null, deleted: m.deleted });
  if (method === 'GET' && url.pathname === '/_test/messages') return send(200, slack.messagesIn(url.searchParams.get('channel') ?? '').map(view));
  if (method === 'GET' && url.pathname === '/_test/dms') return send(200, slack.dmsTo(url.searchParams.get('user') ?? '').map(view));
  if (method === 'POST' && url.pathname === '/_test/click') {
    try {
      const { status, body } = await slack.clickButton(JSON.parse(raw) as ClickArgs);
      return send(200, { status, body });
    } catch (err) {
      return send(400, { error: (err as Error).message });
    }
  }
  send(404, { error: `no test control ${method ?? ''} ${url.pathname}` });
}
