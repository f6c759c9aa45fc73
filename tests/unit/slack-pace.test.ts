import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatUnavailableError } from '@/lib/chat/errors';
import { SlackWebApi } from '@/lib/chat/slack-api';
import { TestSlack } from '@/trial/slack';
import { z } from 'zod';

// Slack's pace kept before Slack has to say so: a burst goes out at once, the rest wait for turns
// one interval apart (asked before the loop writes a claim), and a 429's Retry-After is kept.

const slack = new TestSlack({ channels: [{ id: 'CREVIEW', name: 'key-reviews' }] });
beforeAll(() => slack.start());
afterAll(() => slack.stop());

const posted = z.object({ ts: z.string() });

function api(now: { t: number }) {
  return new SlackWebApi({ baseUrl: slack.apiUrl, token: slack.token, timeoutMs: 2000, postIntervalMs: 1000, burst: 3, now: () => now.t });
}

describe("Slack's pace", () => {
  it('lets a burst through, then hands out turns one interval apart instead of waking every waiter at each slot', async () => {
    const now = { t: 1_000_000 };
    const a = api(now);
    for (let i = 0; i < 3; i++) {
      expect(a.pauseFor('chat.postMessage', 'CREVIEW')).toBe(0);
      await a.call('chat.postMessage', { channel: 'CREVIEW', text: `post ${i}` }, posted);
    }
    // The next post would wait a second: short enough to be slept through, so no pause.
    expect(a.pauseFor('chat.postMessage', 'CREVIEW')).toBe(0);
    now.t -= 1000; // as if the three had gone out a second later: the fourth would now wait 2 s
    const ask = (who: string) => a.pauseFor('chat.postMessage', 'CREVIEW', who);
    expect([ask('r1'), ask('r2'), ask('r3')]).toEqual([2000, 3000, 4000]);
    // Asking again early (a resync) keeps one's turn rather than taking a new one at the back.
    now.t += 500;
    expect([ask('r2'), ask('r1'), ask('r4')]).toEqual([2500, 1500, 4500]);
    // Another channel keeps its own pace.
    expect(a.pauseFor('chat.postMessage', 'COTHER')).toBe(0);
    // A post that comes anyway, two and a half seconds early, is refused without a call, saying when.
    now.t -= 1000;
    const calls = slack.calls.length;
    const err = await a.call('chat.postMessage', { channel: 'CREVIEW', text: 'too soon' }, posted).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChatUnavailableError);
    expect((err as ChatUnavailableError).paced).toBe(true);
    expect(slack.calls.length).toBe(calls);
  });

  it("keeps Slack's Retry-After: no call to that channel until it has passed", async () => {
    const now = { t: 2_000_000 };
    const a = api(now);
    slack.failNext(1, 'ratelimited', { method: 'chat.postMessage', retryAfter: 7 });
    const err = await a.call('chat.postMessage', { channel: 'CREVIEW', text: 'limited' }, posted).catch((e: unknown) => e);
    expect([(err as ChatUnavailableError).retryAfterMs, (err as ChatUnavailableError).paced]).toEqual([7000, false]);
    expect(a.pauseFor('chat.postMessage', 'CREVIEW')).toBe(7000);
    now.t += 7000;
    expect(a.pauseFor('chat.postMessage', 'CREVIEW')).toBe(0);
    await expect(a.call('chat.postMessage', { channel: 'CREVIEW', text: 'again' }, posted)).resolves.toMatchObject({ ts: expect.any(String) });
  });

  it('forgets the pace of a channel once it has passed: a direct message paces one person, and there are thousands', async () => {
    const now = { t: 3_000_000 };
    const a = new SlackWebApi({ baseUrl: slack.apiUrl, token: slack.token, timeoutMs: 2000, postIntervalMs: 10_000, burst: 1, now: () => now.t });
    // Unknown people answer channel_not_found: the pace is kept before the call all the same.
    const dm = (channel: string) => a.call('chat.postMessage', { channel, text: 'your key is issued' }, posted).catch(() => undefined);
    for (let i = 0; i < 1500; i++) {
      now.t += 20_000;
      await dm(`UPERSON${i}`);
    }
    await dm('UPACED');
    await dm('ULAST');
    expect(a.pacing).toBeLessThanOrEqual(1001);
    // A channel still inside its interval keeps its pace through the pruning.
    expect(a.pauseFor('chat.postMessage', 'UPACED')).toBe(10_000);
  });
});
