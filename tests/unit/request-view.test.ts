import { describe, expect, it } from 'vitest';
import type { KeyRequest } from '@/lib/domain/key-request';
import { approvalsSchema } from '@/lib/config/schema';
import { toView, withoutAddresses } from '@/lib/portal/view';
import { TEST_MODELS } from '../helpers/portal';

const config = { models: TEST_MODELS.map((m) => ({ description: '', featured: false, limits: {}, ...m })), mail: { from: 'k@example.com', keyDelivery: 'portal' as const }, approvals: approvalsSchema.parse({}) };

const waiting: KeyRequest = {
  id: 'aaaaaaaaaaaa',
  email: 'ada@example.com',
  model: 'gpt-4o',
  state: 'approved',
  createdAt: '2026-02-01T12:00:00Z',
  hasKey: true,
  resourceVersion: '3',
  reason: 'The gateway kept failing since 2026-02-01T12:00:00Z; gave up. Last error: gateway http://litellm.platform.svc:4000 unreachable (POST /key/generate): ECONNREFUSED',
  retry: { step: 'mint', attempt: 3, at: '2026-02-01T12:01:00Z', error: 'gateway http://litellm.platform.svc:4000 unreachable (POST /key/generate): connect ECONNREFUSED 10.96.12.7:4000' },
  trace: [{ plugin: 'http', outcome: 'review', reason: 'http plugin failed: https://hr.corp.internal/keyportal/decide is unreachable (getaddrinfo ENOTFOUND hr.corp.internal); onError answers review', ms: 12, failed: true }],
};

describe('what a requester reads of their request', () => {
  it('retry and plugin errors carry no internal host, address or URL; approvers keep the detail', () => {
    const mine = toView(waiting, config, 'requester');
    const text = JSON.stringify(mine);
    for (const leak of ['litellm.platform.svc', '10.96.12.7', 'hr.corp.internal', 'http://', 'https://']) expect(text, leak).not.toContain(leak);
    expect(mine.waiting?.error).toBe('The key could not be created at the gateway yet; it is tried again automatically.');
    expect(mine.trace[0]?.reason).toBe('the http check could not be made, so it answered "review" as configured');
    expect(mine.reason).toContain('gave up. Last error: gateway [address withheld] unreachable');

    const theirs = toView(waiting, config, 'approver');
    expect(theirs.waiting?.error).toContain('10.96.12.7:4000');
    expect(theirs.trace[0]?.reason).toContain('https://hr.corp.internal/keyportal/decide');
    expect(theirs.reason).toContain('http://litellm.platform.svc:4000');
  });

  it('withoutAddresses keeps the words and removes only addresses', () => {
    expect(withoutAddresses('connect ECONNREFUSED 127.0.0.1:587')).toBe('connect ECONNREFUSED [address withheld]');
    expect(withoutAddresses('getaddrinfo ENOTFOUND smtp.internal')).toBe('getaddrinfo ENOTFOUND [address withheld]');
    expect(withoutAddresses('relay mail.corp.example:25 said no')).toBe('relay [address withheld] said no');
    expect(withoutAddresses('Internal models are not open for self-service keys.')).toBe('Internal models are not open for self-service keys.');
    expect(withoutAddresses('HTTP 400 when asked to create the key: budget too high')).toBe('HTTP 400 when asked to create the key: budget too high');
  });
});
