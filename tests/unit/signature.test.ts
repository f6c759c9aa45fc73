import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signatureHeader, verifySignature } from '@/lib/crypto/signature';
import { webhookClients } from '@/lib/config/webhook-secrets';

const SECRET = 'a-webhook-secret-of-at-least-32-bytes!!';
const body = '{"email":"eve@example.com","reason":"left"}';

describe('webhook signatures name their endpoint', () => {
  it('a signature made for one endpoint verifies there and nowhere else, even with the same secret', () => {
    const header = signatureHeader(SECRET, 'approval', body);
    expect(verifySignature(header, 'approval', body, [SECRET]).ok).toBe(true);
    expect(verifySignature(header, 'offboarding', body, [SECRET])).toMatchObject({ ok: false, problem: 'mismatch', message: expect.stringContaining('offboarding endpoint') });
    expect(verifySignature(header, 'approval', `${body} `, [SECRET]).ok).toBe(false);
  });

  it('the signed text is "<t>.<endpoint>.<body>", as the README tells HR systems to build it', () => {
    const t = 1_800_000_000;
    const hex = createHmac('sha256', SECRET).update(`${t}.offboarding.${body}`).digest('hex');
    expect(verifySignature(`t=${t},v2=${hex}`, 'offboarding', body, ['another-secret-that-is-32-bytes-long', SECRET], { now: new Date(t * 1000) })).toMatchObject({ ok: true, index: 1 });
  });

  it('v1 (no endpoint) is refused with a message that says how to sign instead; stale and malformed headers are refused', () => {
    const t = Math.floor(Date.now() / 1000);
    const v1 = createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex');
    expect(verifySignature(`t=${t},v1=${v1}`, 'offboarding', body, [SECRET])).toMatchObject({ ok: false, problem: 'malformed', message: expect.stringContaining('"<t>.offboarding.<body>"') });
    expect(verifySignature(signatureHeader(SECRET, 'approval', body, new Date(Date.now() - 600_000)), 'approval', body, [SECRET])).toMatchObject({ ok: false, problem: 'stale' });
    expect(verifySignature('t=1,v2=zz', 'approval', body, [SECRET])).toMatchObject({ ok: false, problem: 'malformed' });
    expect(verifySignature(undefined, 'approval', body, [SECRET])).toMatchObject({ ok: false, problem: 'missing' });
  });

  it('the offboarding webhook may have secrets of its own; without them it shares the approval webhook\'s', () => {
    const approval = `workday:${'w'.repeat(32)}`;
    expect(webhookClients({ KEYPORTAL_WEBHOOK_SECRETS: approval }).offboarding).toEqual([{ client: 'workday', secret: 'w'.repeat(32) }]);
    const both = webhookClients({ KEYPORTAL_WEBHOOK_SECRETS: approval, KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS: `hr:${'h'.repeat(32)}` });
    expect(both.approval.map((c) => c.client)).toEqual(['workday']);
    expect(both.offboarding.map((c) => c.client)).toEqual(['hr']);
  });
});
