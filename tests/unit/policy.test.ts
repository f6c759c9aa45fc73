import { describe, expect, it } from 'vitest';
import { type Delegation, type Policy, canReview, describePolicy, describeStanding, limitedBy, mergedChanges, policyFor, standing } from '@/lib/approval/policy';
import { parseConfig } from '@/lib/config/load';
import type { Review } from '@/lib/domain/review';

// Approval policies: a pure function from (policy, reviews) to where a request stands, and who
// may review it. Every case a table row.

const config = parseConfig(
  {
    models: [
      { id: 'gpt-4o-mini', title: 'Mini' },
      { id: 'gpt-4o', title: 'GPT-4o', limits: { duration: '30d', max_budget: 50, rpm_limit: 60 } },
      { id: 'anthropic/claude-opus', title: 'Opus', policy: 'expensive' },
    ],
    approvals: {
      approvers: { emails: ['*@platform.example.com'], groups: ['approvers'] },
      policies: {
        two: { required: 2 },
        expensive: {
          denyWins: true,
          justification: { required: true, minLength: 20 },
          stages: [
            { name: 'the manager', approvers: { manager: true } },
            { name: 'the platform team', approvers: { groups: ['platform'] }, required: 2 },
          ],
        },
        lenient: { required: 2, denyWins: false },
      },
      policyFor: [{ models: ['gpt-4o'], policy: 'two' }],
    },
  },
  { source: 'test', env: {} },
);

const subject = { email: 'ada@example.com', manager: 'mia@example.com' };
const at = '2026-02-01T12:00:00Z';
const r = (by: string, decision: 'approve' | 'deny', stage: string, extra: Partial<Review> = {}): Review => ({ by, decision, stage, at, ...extra });
const person = (email: string, groups: string[] = []) => ({ kind: 'person' as const, email, groups });

const mini = policyFor(config.approvals, config.models[0], 'gpt-4o-mini');
const two = policyFor(config.approvals, config.models[1], 'gpt-4o');
const expensive = policyFor(config.approvals, config.models[2], 'anthropic/claude-opus');
const lenient = { ...two, name: 'lenient', denyWins: false };

describe('which policy a model has', () => {
  it('its own, else the first glob, else the default (one approval from an approver)', () => {
    expect([mini.name, two.name, expensive.name]).toEqual(['default', 'two', 'expensive']);
    expect(mini.stages).toEqual([{ name: 'approvers', approvers: { emails: ['*@platform.example.com'], groups: ['approvers'], manager: false, webhooks: ['*'] }, required: 1 }]);
    expect(expensive.stages.map((s) => [s.name, s.required])).toEqual([['the manager', 1], ['the platform team', 2]]);
    expect(expensive.justification).toEqual({ required: true, minLength: 20 });
  });
});

describe('standing: where a request in review stands', () => {
  const rows: Array<[string, Policy, Review[], string]> = [
    ['no review yet', mini, [], '0 of 1 approval, waiting for approvers'],
    ['one approval of one', mini, [r('bob@platform.example.com', 'approve', 'approvers')], 'approved'],
    ['2 of 2 needed, one given', two, [r('bob@platform.example.com', 'approve', 'approvers')], '1 of 2 approvals, waiting for approvers'],
    ['2 of 2, the same person twice counts once', two, [r('bob@platform.example.com', 'approve', 'approvers'), r('BOB@platform.example.com', 'approve', 'approvers')], '1 of 2 approvals, waiting for approvers'],
    ['2 of 2 from two people', two, [r('bob@platform.example.com', 'approve', 'approvers'), r('cy@platform.example.com', 'approve', 'approvers')], 'approved'],
    ['deny wins over an approval before it', two, [r('bob@platform.example.com', 'approve', 'approvers'), r('cy@platform.example.com', 'deny', 'approvers')], 'denied by cy@platform.example.com'],
    ['deny does not win where the policy says so: one of two denials', lenient, [r('cy@platform.example.com', 'deny', 'approvers')], '0 of 2 approvals, waiting for approvers'],
    ['…and two denials deny', lenient, [r('cy@platform.example.com', 'deny', 'approvers'), r('dee@platform.example.com', 'deny', 'approvers')], 'denied by dee@platform.example.com'],
    ['stages in order: the manager first', expensive, [], '0 of 1 approval, waiting for the manager, stage 1 of 2'],
    ['stage 2 after the manager', expensive, [r('mia@example.com', 'approve', 'the manager')], '0 of 2 approvals, waiting for the platform team, stage 2 of 2'],
    ['stage 2 half done', expensive, [r('mia@example.com', 'approve', 'the manager'), r('pat@example.com', 'approve', 'the platform team')], '1 of 2 approvals, waiting for the platform team, stage 2 of 2'],
    ['both stages met', expensive, [r('mia@example.com', 'approve', 'the manager'), r('pat@example.com', 'approve', 'the platform team'), r('sam@example.com', 'approve', 'the platform team')], 'approved'],
    ['an approval given in the wrong stage does not count for another', expensive, [r('pat@example.com', 'approve', 'the manager'), r('sam@example.com', 'approve', 'the platform team')], '1 of 2 approvals, waiting for the platform team, stage 2 of 2'],
    ['an override (kubectl) decides outright', expensive, [r('kubectl', 'approve', 'the manager', { override: true })], 'approved'],
    ['the latest override counts', two, [r('kubectl', 'approve', 'approvers', { override: true }), r('kubectl', 'deny', 'approvers', { override: true })], 'denied by kubectl'],
  ];
  it.each(rows)('%s', (_name, policy, reviews, expected) => {
    expect(describeStanding(policy, standing(policy, reviews, subject))).toBe(expected);
  });

  it('a manager-only stage with no manager on record says so: nobody can approve it here', () => {
    const s = standing(expensive, [], { email: 'ada@example.com' });
    expect(s).toMatchObject({ outcome: 'waiting', nobodyCanApprove: expect.stringContaining('no manager is on record') });
  });
});

describe('canReview: who may review the stage a request waits on', () => {
  const [manager, platform] = expensive.stages as [Policy['stages'][number], Policy['stages'][number]];
  const approvers = mini.stages[0] as Policy['stages'][number];
  const delegations: Delegation[] = [
    { approver: 'pat@example.com', groups: ['platform'], delegate: 'dee@example.com', until: '2030-01-01T00:00:00Z' },
    { approver: 'dee@example.com', groups: [], delegate: 'zed@example.com', until: '2030-01-01T00:00:00Z' },
    { approver: 'old@example.com', groups: ['platform'], delegate: 'late@example.com', until: '2020-01-01T00:00:00Z' },
    { approver: 'ada@example.com', groups: ['platform'], delegate: 'pal@example.com', until: '2030-01-01T00:00:00Z' },
  ];
  const rows: Array<[string, Policy['stages'][number], Parameters<typeof canReview>[1], Review[], string | true]> = [
    ['an approver by email glob', approvers, person('bob@platform.example.com'), [], true],
    ['an approver by group', approvers, person('x@example.com', ['approvers']), [], true],
    ['someone else', approvers, person('x@example.com'), [], 'you are not one of those who approve this stage (approvers)'],
    ['the requester, even an approver', approvers, person('ada@example.com', ['approvers']), [], 'nobody reviews their own request: another approver must (four eyes)'],
    ['the manager, for the manager stage', manager, person('mia@example.com'), [], true],
    ['another person, for the manager stage', manager, person('pat@example.com', ['platform']), [], 'you are not one of those who approve this stage (the manager)'],
    ['the same person again', platform, person('pat@example.com', ['platform']), [r('pat@example.com', 'approve', 'the platform team')], 'you have already reviewed this request: one person counts once'],
    ['a delegate, for the approver who delegated', platform, person('dee@example.com'), [], true],
    ['a delegate, once the approver reviewed themselves', platform, person('dee@example.com'), [r('pat@example.com', 'approve', 'the platform team')], 'you are not one of those who approve this stage (the platform team)'],
    ['the same person directly, after reviewing as a delegate', platform, person('dee@example.com', ['platform']), [r('dee@example.com', 'approve', 'the platform team', { for: 'pat@example.com' })], 'you have already reviewed this request: one person counts once'],
    ['a delegation never chains', platform, person('zed@example.com'), [], 'you are not one of those who approve this stage (the platform team)'],
    ['an expired delegation', platform, person('late@example.com'), [], 'you are not one of those who approve this stage (the platform team)'],
    ['standing in for the requester', platform, person('pal@example.com'), [], 'you are not one of those who approve this stage (the platform team)'],
    ['a webhook the stage does not name', platform, { kind: 'webhook', client: 'workday' }, [], 'this stage (the platform team) takes no decision from webhook caller workday'],
  ];
  it.each(rows)('%s', (_name, stage, reviewer, reviews, expected) => {
    const got = canReview(stage, reviewer, subject, reviews, delegations, Date.parse('2026-02-01T12:00:00Z'));
    if (expected === true) expect(got.ok).toBe(true);
    else expect(got).toEqual({ ok: false, why: expected });
  });

  it('a delegate reviews as the approver they stand in for', () => {
    expect(canReview(platform, person('dee@example.com'), subject, [], delegations, Date.parse('2026-02-01T12:00:00Z'))).toEqual({ ok: true, as: 'pat@example.com' });
  });
});

describe('approve with changes', () => {
  it('the key is minted with the lowest of every approver\'s changes', () => {
    const reviews = [
      r('bob@platform.example.com', 'approve', 'approvers', { changes: { max_budget: 20, duration: '14d' } }),
      r('cy@platform.example.com', 'approve', 'approvers', { changes: { max_budget: 30, duration: '7d', rpm_limit: 10 } }),
      r('dee@platform.example.com', 'deny', 'approvers', { changes: { max_budget: 1 } }),
    ];
    expect(mergedChanges(reviews)).toEqual({ max_budget: 20, duration: '7d', rpm_limit: 10 });
    expect(standing(two, reviews.slice(0, 2), subject)).toEqual({ outcome: 'approved', changes: { max_budget: 20, duration: '7d', rpm_limit: 10 } });
  });
});

describe('policies in config.yaml are checked at load, naming the field', () => {
  const problems = (approvals: Record<string, unknown>, models: unknown[] = [{ id: 'gpt-4o', title: 'GPT-4o' }]) => {
    try {
      parseConfig({ models, approvals }, { source: 'test', env: {} });
      return [];
    } catch (err) {
      return (err as { problems: string[] }).problems;
    }
  };
  it('an unknown policy, a glob that matches no model, a stage nobody can approve, two stages of one name', () => {
    expect(problems({}, [{ id: 'gpt-4o', title: 'GPT-4o', policy: 'nope' }])).toEqual(['models[0].policy: no policy "nope" in approvals.policies']);
    expect(problems({ policies: { a: { required: 1 } }, policyFor: [{ models: ['claude-*'], policy: 'a' }] })).toEqual(['approvals.policyFor[0].models[0]: "claude-*" matches no model of the catalog']);
    expect(problems({ policies: { a: { stages: [{ name: 'x', approvers: {} }] } } })).toEqual([expect.stringMatching(/^approvals\.policies\.a\.stages\[0\]\.approvers: a stage nobody can approve/)]);
    expect(problems({ policies: { a: { stages: [{ name: 'x', approvers: { manager: true } }, { name: 'x', approvers: { manager: true } }] } } })).toEqual(['approvals.policies.a.stages[1].name: two stages are named "x"']);
    expect(problems({ policies: { 'Bad Name': { required: 1 } } })[0]).toMatch(/^approvals\.policies/);
    expect(problems({ defaultPolicy: 'missing' })).toEqual(['approvals.defaultPolicy: no policy "missing" in approvals.policies']);
    // More approvals than people who could give them: refused, not a request stuck for ever.
    expect(problems({ policies: { a: { stages: [{ name: 'boss', approvers: { manager: true }, required: 2 }] } } })).toEqual([
      'approvals.policies.a.stages[0].required: needs 2 approvals from different people, but at most 1 can give one (the manager)',
    ]);
    expect(problems({ policies: { a: { required: 3, approvers: { emails: ['a@example.com', 'b@example.com'] } } } })).toEqual([
      'approvals.policies.a.required: needs 3 approvals from different people, but at most 2 can give one (a@example.com, b@example.com)',
    ]);
    expect(problems({ policies: { a: { required: 3, approvers: { emails: ['*@example.com'] } } } })).toEqual([]);
  });
});

describe('the limits a key is minted with', () => {
  it('the model\'s, each lowered by the approvers\' changes, never raised (a catalog lowered since the review wins)', () => {
    const limits = { duration: '30d', max_budget: 50, budget_duration: '30d', rpm_limit: 60 };
    expect(limitedBy(limits, { max_budget: 20, duration: '7d' })).toEqual({ duration: '7d', max_budget: 20, budget_duration: '30d', rpm_limit: 60 });
    expect(limitedBy({ ...limits, max_budget: 10 }, { max_budget: 20 })).toMatchObject({ max_budget: 10 });
    expect(limitedBy({ duration: '1d' }, { duration: '7d', tpm_limit: 500 })).toEqual({ duration: '1d', tpm_limit: 500 });
    expect(limitedBy(limits, undefined)).toBe(limits);
  });

  it('what a policy asks, in words', () => {
    expect(describePolicy(mini)).toBe('1 approval (approvers)');
    expect(describePolicy(two)).toBe('2 approvals (approvers)');
    expect(describePolicy(expensive)).toBe('1 from the manager, then 2 from the platform team');
  });
});
