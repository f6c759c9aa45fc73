import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { User } from '@/lib/auth/roles';
import { signatureHeader } from '@/lib/crypto/signature';
import type { State } from '@/lib/domain/states';
import { buildLoop } from '@/lib/loop/wiring';
import { bulkApprove, listAwaiting } from '@/lib/portal/awaiting';
import { delegate } from '@/lib/portal/delegation';
import { type PortalDeps, createRequest, decide } from '@/lib/portal/requests';
import { toView } from '@/lib/portal/view';
import { handleApprovalWebhook } from '@/lib/portal/webhook';
import { kubectl } from '../helpers/cluster';
import { TEST_MODELS, testConfig } from '../helpers/portal';
import { until } from '../helpers/wait';
import { refused } from '../helpers/refused';
import { afterThisTest, clusterWorld } from '../helpers/world';

// Approval policies on the real cluster, with the loop minting at the LiteLLM-like gateway:
// N of M, stages with the requester's manager, deny wins, delegates, approve with changes,
// two approvals at once, and the other ways in (kubectl, the webhook) recorded as reviews.

const person = (email: string, groups: string[] = [], extra: Partial<User> = {}): User => ({ email, groups, approver: false, ...extra });
const ada = person('ada@example.com', [], { manager: 'mia@example.com' });
const mia = person('mia@example.com');
const [p1, p2, p3] = ['pat@platform.example.com', 'pia@platform.example.com', 'pel@platform.example.com'].map((e) => person(e, ['platform'], { approver: true })) as [User, User, User];
const sec = person('sam@security.example.com', ['security'], { approver: true });

const POLICY_MODELS = [
  ...TEST_MODELS,
  { id: 'gpt-5', title: 'GPT-5', limits: { duration: '30d', max_budget: 100, budget_duration: '30d', rpm_limit: 60, tpm_limit: 10_000 }, policy: 'two-of-platform' },
  { id: 'opus', title: 'Opus', limits: { duration: '30d', max_budget: 200 }, policy: 'expensive' },
];

const APPROVALS = {
  approvers: { emails: [], groups: ['platform', 'security'] },
  policies: {
    'two-of-platform': { required: 2, approvers: { groups: ['platform'] } },
    expensive: {
      justification: { required: true, minLength: 20 },
      stages: [
        { name: 'the manager', approvers: { manager: true } },
        { name: 'the platform team', approvers: { groups: ['platform', 'security'] } },
      ],
    },
  },
  webhook: 'review',
};

async function world(plugins?: Array<{ name: string; config: Record<string, unknown> }>) {
  // The policy models are on no whitelist: the chain's default holds them for review.
  const w = await clusterWorld('policies', { models: POLICY_MODELS, approvals: APPROVALS, ...(plugins ? { plugins } : {}) });
  const config = testConfig(w.setup);
  const { loop } = buildLoop(config, w.store, {}, { people: w.people });
  loop.start();
  afterThisTest(() => loop.stop());
  const deps: PortalDeps = { store: w.store, people: w.people, config };
  const held = (id: string) => until(async () => ((await w.store.get(id)).state === 'in-review' ? true : undefined), `request ${id} held for review`);
  const settled = (id: string, state: State) =>
    until(async () => {
      const r = await w.store.get(id);
      return r.state === state && r.notified === state ? r : undefined;
    }, `request ${id} to be ${state} and emailed`, 20_000);
  const ask = async (user: User, model: string, justification?: string) => {
    const { request } = await createRequest(deps, user, model, justification ? { justification } : {});
    await held(request.id);
    return request.id;
  };
  return { ...w, config, deps, held, settled, ask };
}


describe('approval policies on the cluster', () => {
  it('2 of 3: one approval waits, the same person again counts once, a second person approves and one key is minted', async () => {
    const w = await world();
    const id = await w.ask(person('bea@example.com'), 'gpt-5');
    const first = await decide(w.deps, p1, id, 'approve', 'fine');
    expect(first).toMatchObject({ state: 'in-review', review: { policy: 'two-of-platform', progress: '1 of 2 approvals, waiting for approvers' } });
    const again = await refused(() => decide(w.deps, p1, id, 'approve', undefined));
    expect([again.status, again.message]).toEqual([403, expect.stringMatching(/already reviewed this request: one person counts once/)]);
    // A security approver is an approver, but not of this tier.
    expect((await refused(() => decide(w.deps, sec, id, 'approve', undefined))).message).toMatch(/not one of those who approve this stage/);
    // Any two of the three platform approvers: here the third.
    expect((await decide(w.deps, p3, id, 'approve', undefined)).state).toBe('approved');
    const issued = await w.settled(id, 'issued');
    expect(issued.reviews?.map((r) => [r.by, r.decision])).toEqual([[p1.email, 'approve'], [p3.email, 'approve']]);
    expect(w.gateway.keysFor(id)).toHaveLength(1);
    const mail = w.smtp.to('bea@example.com')[0];
    expect(mail?.text).toContain(`Approved by ${p1.email} (approvers): fine`);
    expect(mail?.text).toContain(`Approved by ${p3.email} (approvers)`);
    // p2, who never reviewed it, finds it decided.
    expect((await refused(() => decide(w.deps, p2, id, 'approve', undefined))).status).toBe(409);
  });

  it('two stages: the manager first (from the identity provider), then the platform team; the requester is refused and the justification travels', async () => {
    const w = await world();
    const short = await refused(() => createRequest(w.deps, ada, 'opus', { justification: 'because' }));
    expect([short.status, short.details.field, short.message]).toEqual([422, 'justification', expect.stringMatching(/at least 20 characters/)]);
    const id = await w.ask(ada, 'opus', 'Evaluating <Opus> for the Q3 "legal" summaries & drafts');
    expect((await w.store.get(id)).manager).toBe('mia@example.com');
    // The platform team cannot skip the manager's stage; the manager (no approver) can review it.
    expect((await refused(() => decide(w.deps, p1, id, 'approve', undefined))).message).toMatch(/stage \(the manager\)/);
    expect((await listAwaiting(w.deps, mia)).requests.map((r) => r.id)).toEqual([id]);
    expect((await listAwaiting(w.deps, p1)).requests).toEqual([]);
    const afterManager = await decide(w.deps, mia, id, 'approve', 'ok by me');
    expect(afterManager.review.progress).toBe('0 of 1 approval, waiting for the platform team, stage 2 of 2');
    expect((await listAwaiting(w.deps, p1)).requests.map((r) => r.id)).toEqual([id]);
    // The requester cannot review, even as someone's delegate.
    expect((await refused(() => decide(w.deps, { ...ada, groups: ['platform'], approver: true }, id, 'approve', undefined))).code).toBe('own_request');
    expect((await decide(w.deps, p1, id, 'approve', undefined)).state).toBe('approved');
    await w.settled(id, 'issued');
    // The approvers' email showed the justification, escaped in HTML.
    const notice = w.smtp.to('approvers@example.com').find((m) => m.subject.includes('Opus'));
    expect(notice?.text).toContain('Justification: Evaluating <Opus> for the Q3 "legal" summaries & drafts');
    expect(notice?.html).toContain('Evaluating &lt;Opus&gt; for the Q3 &quot;legal&quot; summaries &amp; drafts');
    expect(notice?.text).toContain('It needs 1 from the manager, then 1 from the platform team.');
    // The manager was told too: the policy asks them.
    expect(w.smtp.to('mia@example.com').length).toBeGreaterThan(0);
  });

  it('deny wins: an approval, then one denial ends it denied; nothing is minted and the denial is emailed with both reviews', async () => {
    const w = await world();
    const id = await w.ask(person('cy@example.com'), 'gpt-5');
    await decide(w.deps, p1, id, 'approve', undefined);
    const denied = await decide(w.deps, p2, id, 'deny', 'Use the mini model');
    expect(denied).toMatchObject({ state: 'denied', reason: 'Use the mini model' });
    await w.settled(id, 'denied');
    expect(w.gateway.keysFor(id)).toHaveLength(0);
    const mail = w.smtp.to('cy@example.com')[0];
    expect(mail?.text).toMatch(/Denied by pia@platform\.example\.com \(approvers\): Use the mini model/);
  });

  it('a delegate reviews for an approver ("X for Y"), counts once with them, and never for their own request', async () => {
    const w = await world();
    const dee = person('dee@example.com');
    await delegate(w.deps, p1, { delegate: dee.email, until: new Date(Date.now() + 86_400_000).toISOString() });
    const id = await w.ask(person('eli@example.com'), 'gpt-5');
    const r = await decide(w.deps, dee, id, 'approve', 'covering for Pat');
    expect(r.review.reviews[0]).toMatchObject({ by: dee.email, for: p1.email, decision: 'approve' });
    // Pat, whose approval Dee already gave, counts once.
    expect((await refused(() => decide(w.deps, p1, id, 'approve', undefined))).message).toMatch(/one person counts once/);
    // Dee's own request: the delegation does not let Dee review it.
    const own = await w.ask(dee, 'gpt-5');
    expect((await refused(() => decide(w.deps, dee, own, 'approve', undefined))).status).toBe(403);
    // A delegate who is the requester is refused when delegating to themselves, too.
    expect((await refused(() => delegate(w.deps, p2, { delegate: p2.email, until: new Date(Date.now() + 86_400_000).toISOString() }))).details.field).toBe('delegate');
    expect((await decide(w.deps, p2, id, 'approve', undefined)).state).toBe('approved');
    const issued = await w.settled(id, 'issued');
    expect(w.smtp.to('eli@example.com')[0]?.text).toContain(`Approved by ${dee.email} for ${p1.email} (approvers): covering for Pat`);
    expect(issued.reviews).toHaveLength(2);
  });

  it('approve with changes: the gateway receives the lower limits, the requester is told; above the tier is a 400 naming the field', async () => {
    const w = await world();
    const id = await w.ask(person('fay@example.com'), 'gpt-5');
    const over = await refused(() => decide(w.deps, p1, id, 'approve', undefined, { max_budget: 500 }));
    expect([over.status, over.details.field]).toEqual([400, 'changes.max_budget']);
    const longer = await refused(() => decide(w.deps, p1, id, 'approve', undefined, { duration: '90d' }));
    expect([longer.status, longer.details.field]).toEqual([400, 'changes.duration']);
    expect((await w.store.get(id)).reviews ?? []).toEqual([]);
    await decide(w.deps, p1, id, 'approve', undefined, { max_budget: 20, duration: '7d' });
    await decide(w.deps, p2, id, 'approve', undefined, { max_budget: 30, rpm_limit: 10 });
    const issued = await w.settled(id, 'issued');
    const [key] = w.gateway.keysFor(id);
    // Each limit the lowest any approver set; the rest the tier's.
    expect(key).toMatchObject({ max_budget: 20, rpm_limit: 10, tpm_limit: 10_000, budget_duration: '30d' });
    const days = (Date.parse(issued.expiresAt ?? '') - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThan(7.1);
    expect(w.smtp.to('fay@example.com')[0]?.text).toContain('Your key was approved with changes: budget 20, lasts 7d, 10 requests a minute.');
  });

  it('two approvals at once: both are kept, exactly one key is minted', async () => {
    const w = await world();
    for (let round = 0; round < 3; round++) {
      const id = await w.ask(person(`gus${round}@example.com`), 'gpt-5');
      const results = await Promise.allSettled([decide(w.deps, p1, id, 'approve', undefined), decide(w.deps, p2, id, 'approve', undefined)]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      const issued = await w.settled(id, 'issued');
      expect(issued.reviews?.map((r) => r.by).sort()).toEqual([p1.email, p2.email].sort());
      expect(w.gateway.keysFor(id)).toHaveLength(1);
    }
    expect(w.gateway.generateCalls).toBe(3);
  });

  it('bulk approve: a preview says what each does and changes nothing; the confirmation applies each', async () => {
    const w = await world();
    const ids = [await w.ask(person('hal@example.com'), 'gpt-5'), await w.ask(person('ivy@example.com'), 'gpt-5')];
    await decide(w.deps, p2, ids[1] as string, 'approve', undefined);
    const versions = await Promise.all(ids.map(async (id) => (await w.store.get(id)).resourceVersion));
    const preview = await bulkApprove(w.deps, p1, { ids: [...ids, 'aaaaaaaaaaaa'], preview: true });
    expect(preview).toEqual([
      { id: ids[0], ok: true, says: 'records your approval: 1 of 2 approvals, waiting for approvers', state: 'in-review' },
      { id: ids[1], ok: true, says: 'approves it: the key is minted', state: 'in-review' },
      { id: 'aaaaaaaaaaaa', ok: false, says: 'no key request with id aaaaaaaaaaaa' },
    ]);
    expect(await Promise.all(ids.map(async (id) => (await w.store.get(id)).resourceVersion))).toEqual(versions);
    const done = await bulkApprove(w.deps, p1, { ids, preview: false });
    expect(done.map((d) => [d.ok, d.state])).toEqual([[true, 'in-review'], [true, 'approved']]);
    await w.settled(ids[1] as string, 'issued');
  });

  it('kubectl state=approved over 1 of 2 is an administrator override, recorded in the reviews; the webhook counts as one review', async () => {
    const w = await world();
    const id = await w.ask(person('jo@example.com'), 'gpt-5');
    await decide(w.deps, p1, id, 'approve', undefined);
    await kubectl('-n', w.namespace, 'label', 'secret', `keyreq-${id}`, 'keyportal.dev/state=approved', '--overwrite');
    const issued = await w.settled(id, 'issued');
    expect(issued.decidedBy).toBe('kubectl');
    expect(issued.reviews?.at(-1)).toMatchObject({ by: 'kubectl', decision: 'approve', override: true });
    expect(w.smtp.to('jo@example.com')[0]?.text).toContain('Approved (administrator override) by kubectl (override)');

    // The signed webhook: one review by webhook:<client>, which this tier does not take.
    const other = await w.ask(person('kim@example.com'), 'opus', 'A long enough reason for the opus model');
    const raw = JSON.stringify({ request_id: other, decision: 'approve', reason: 'HR-1' });
    const hook = { store: w.store, config: w.config, people: w.people, clients: [{ client: 'hr', secret: 'hr-secret-0123456789-0123456789' }], toleranceSeconds: 300 };
    const err = await refused(() => handleApprovalWebhook(hook, raw, signatureHeader('hr-secret-0123456789-0123456789', 'approval', raw)));
    expect([err.status, err.message]).toEqual([403, expect.stringMatching(/takes no decision from webhook caller hr/)]);
    expect((await w.store.get(other)).reviews ?? []).toEqual([]);
  });

  it('the http plugin names the manager when the identity provider did not; with no manager on record the request says nobody can approve it', async () => {
    const managers: Record<string, string> = { 'nia@example.com': 'max@example.com' };
    const hr = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        const { email } = JSON.parse(body) as { email: string };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ decision: 'CONTINUE', ...(managers[email] ? { manager: managers[email] } : {}) }));
      });
    });
    await new Promise<void>((r) => hr.listen(0, '127.0.0.1', () => r()));
    afterThisTest(() => new Promise<void>((r) => hr.close(() => r())));
    const w = await world([{ name: 'http', config: { url: `http://127.0.0.1:${(hr.address() as AddressInfo).port}/decide`, onError: 'continue' } }]);
    const named = await w.ask(person('nia@example.com'), 'opus', 'A reason that is long enough to pass');
    expect((await w.store.get(named)).manager).toBe('max@example.com');
    expect((await decide(w.deps, person('max@example.com'), named, 'approve', undefined)).review.progress).toMatch(/waiting for the platform team/);
    const nobody = await w.ask(person('ned@example.com'), 'opus', 'A reason that is long enough to pass');
    const view = (await listAwaiting(w.deps, p1)).requests.find((r) => r.id === named);
    expect(view).toBeDefined();
    const stuck = await refused(() => decide(w.deps, p1, nobody, 'approve', undefined));
    expect(stuck.message).toMatch(/no manager is on record for this requester/);
    expect(toView(await w.store.get(nobody), w.config, 'approver').review.progress).toMatch(/no manager is on record for this requester, and only their manager may approve this stage: an administrator decides with kubectl/);
  });
});
