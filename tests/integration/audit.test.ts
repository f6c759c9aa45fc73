import path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { CloudEvent } from '@/lib/audit/cloudevent';
import { AUDIT_FINALIZER, requesterHash } from '@/lib/domain/key-request';
import type { FailpointName } from '@/lib/loop/failpoints';
import { getRequest } from '@/lib/portal/requests';
import { liftOffboarding, offboard } from '@/lib/portal/offboarding';
import { KubernetesAuditSpool } from '@/lib/audit/spool';
import { KubernetesAuditCursor } from '@/lib/audit/cursor';
import { createGateway } from '@/lib/gateway';
import { LogEventRecorder } from '@/lib/loop/events';
import { sweepGateway } from '@/lib/loop/sweep';
import { PortalError } from '@/lib/portal/errors';
import { KubernetesArchive } from '@/lib/retention/archive';
import type { RequestStore } from '@/lib/store/types';
import { adminKubeConfig, kubectl, recordsInSecret } from '../helpers/cluster';
import { MASTER_KEY, type TestSetup, type WorkerProcess, exited, spawnWorker, stopWorker, testConfig, testEnv, writeConfigFile } from '../helpers/portal';
import { until } from '../helpers/wait';
import { afterThisTest, clusterWorld } from '../helpers/world';

// The audit trail on the real cluster: records written with the changes they describe, shipped
// over the http sink to a collector, at least once across SIGKILLs, and retention on a moved clock.

const repo = path.resolve(import.meta.dirname, '../..');

async function world(overrides: Partial<TestSetup> = {}) {
  const w = await clusterWorld('audit', overrides);
  const configFile = writeConfigFile(w.setup);
  const workers: WorkerProcess[] = [];
  const track = (p: WorkerProcess) => {
    workers.push(p);
    return p;
  };
  afterThisTest(() => Promise.all(workers.map(stopWorker)).then(() => undefined));
  return {
    ...w,
    configFile,
    worker: (env: Record<string, string> = {}) => track(spawnWorker(configFile, env)),
    /** The worker with its clock starting at `now` (tests/helpers/clocked-worker.ts). */
    clockedWorker: (now: Date) =>
      track(
        ((child) => ({ child, stderr: () => '' }))(
          spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'tests/helpers/clocked-worker.ts')], {
            cwd: repo,
            env: { NODE_ENV: 'production', PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', KEYPORTAL_CONFIG: configFile, KEYPORTAL_LOG: 'silent', ...testEnv(), KEYPORTAL_TEST_NOW: now.toISOString() },
            stdio: ['ignore', 'ignore', 'ignore'],
          }),
        ),
      ),
  };
}

/**
 * Every record the request holds reached the collector, and the audit cursor, as written in the
 * cluster, covers the request's version: a shipper started now would not send them again.
 */
const shippedAll = ({ store, audit, namespace }: { store: RequestStore; audit: { distinct(id: string): CloudEvent[] }; namespace: string }, id: string) =>
  until(async () => {
    const r = await store.get(id);
    const delivered = new Set(audit.distinct(id).map((e) => e.id));
    const through = await new KubernetesAuditCursor(adminKubeConfig(), namespace).read();
    const covered = through !== undefined && BigInt(r.resourceVersion) <= through;
    return covered && (await recordsInSecret(namespace, id)).every((x) => delivered.has(x.id)) ? r : undefined;
  }, `request ${id}'s audit records shipped and under the cursor`, 30_000, 100);

const types = (events: CloudEvent[]) => events.map((e) => e.type.replace('dev.keyportal.', ''));

describe('the audit trail', () => {
  it.each<FailpointName | 'none'>(['none', 'after-key-stored', 'after-gateway-generate', 'after-email-sent', 'after-issued', 'after-audit-sent'])(
    'every record of one request life arrives, once or again with the same id, with a worker SIGKILLed %s',
    async (point) => {
      const w = await world();
      const keys: string[] = [];
      if (point !== 'none') {
        const doomed = w.worker({ KEYPORTAL_FAILPOINT: point });
        const { request } = await w.store.create({ email: 'crash@example.com', model: 'gpt-4o' });
        const { signal } = await until(() => (doomed.child.exitCode !== null || doomed.child.signalCode !== null ? exited(doomed.child) : undefined), `the worker to die at ${point}`, 30_000);
        expect(signal).toBe('SIGKILL');
        w.worker();
        keys.push(await life(w, request.id));
      } else {
        w.worker();
        const { request } = await w.store.create({ email: 'crash@example.com', model: 'gpt-4o' });
        keys.push(await life(w, request.id));
      }
      const id = (await w.store.listByRequester('crash@example.com')).items[0]?.id as string;
      const distinct = w.audit.distinct(id);
      // What a consumer that drops repeats by id keeps: each fact once, in the order it happened.
      expect(types(distinct)).toEqual([
        'request.created',
        'plugin.answered',
        'plugin.answered',
        'request.approved',
        'key.minted',
        'request.emailed',
        'key.erased',
        'request.revoked',
        'key.deleted',
        'request.emailed',
      ]);
      // A repeat is the same record again, never a different one under the same id.
      for (const e of w.audit.about(id)) expect(e).toEqual(distinct.find((d) => d.id === e.id));
      if (point === 'after-audit-sent') expect(w.audit.about(id).length).toBeGreaterThan(distinct.length);
      const minted = distinct.find((e) => e.type === 'dev.keyportal.key.minted');
      expect(minted).toMatchObject({ specversion: '1.0', subject: id, source: 'http://portal.test:3000', datacontenttype: 'application/json' });
      expect(minted?.data).toMatchObject({ alias: `keyportal-${id}`, requester: 'crash@example.com', model: 'gpt-4o', limits: { max_budget: 10 } });
      expect(String(minted?.data.keySha256Prefix)).toMatch(/^[0-9a-f]{12}$/);
      // Never a key: no record holds the minted key or its whole hash.
      const key = keys[0] ?? '';
      const all = JSON.stringify(w.audit.deliveries);
      expect(key.length).toBeGreaterThan(10);
      expect(all).not.toContain(key);
      expect(all).not.toContain((await w.store.get(id)).keySha256 as string);
      expect(distinct.find((e) => e.type === 'dev.keyportal.request.revoked')?.data).toMatchObject({ by: 'user:admin@example.com', via: 'portal', reason: 'Project ended' });
      expect(w.audit.badSignatures).toBe(0);
    },
  );

  /** Issued and emailed, then revoked by an approver and emailed again; the minted key. */
  async function life({ store, gateway, audit, namespace }: { store: RequestStore; gateway: { keysFor(id: string): Array<{ key: string }> }; audit: { distinct(id: string): CloudEvent[] }; namespace: string }, id: string): Promise<string> {
    const issued = await until(async () => {
      const r = await store.get(id);
      return r.state === 'issued' && r.notified === 'issued' && !r.hasKey ? r : undefined;
    }, `request ${id} issued and emailed`, 30_000);
    const key = gateway.keysFor(id)[0]?.key ?? '';
    await store.update(issued, { state: 'revoked', decision: 'revoked', decidedBy: 'user:admin@example.com', decidedAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), reason: 'Project ended' });
    await until(async () => (await store.get(id)).notified === 'revoked', 'the revocation emailed', 30_000);
    await shippedAll({ store, audit, namespace }, id);
    return key;
  }

  it('a collector that answers 500, hangs, or cuts the connection holds up nothing else; its records wait in the Secrets and all arrive once it is back', async () => {
    const w = await world();
    w.worker();
    const warm = (await w.store.create({ email: 'warm@example.com', model: 'gpt-4o' })).request;
    await shippedAll(w, (await until(async () => ((await w.store.get(warm.id)).notified === 'issued' ? warm : undefined), 'the worker to lead', 30_000)).id);
    const ids: string[] = [];
    for (const mode of ['error', 'hang', 'close'] as const) {
      w.audit.mode = mode;
      const batch = await Promise.all(Array.from({ length: 10 }, (_, i) => w.store.create({ email: `${mode}${i}@example.com`, model: i % 2 ? 'gpt-4o' : 'internal/secret-model' })));
      ids.push(...batch.map((b) => b.request.id));
      // The loop goes on: every request decided and emailed while the sink takes nothing.
      await until(async () => {
        const rs = await Promise.all(batch.map((b) => w.store.get(b.request.id)));
        return rs.every((r) => r.notified === r.state && r.auditPending !== undefined);
      }, `10 requests decided and emailed with the collector in mode ${mode}`, 30_000, 200);
    }
    const before = w.audit.distinct().length;
    w.audit.mode = 'ok';
    for (const id of ids) await shippedAll(w, id);
    expect(w.audit.distinct().length).toBeGreaterThan(before);
    for (const id of ids) {
      const t = types(w.audit.distinct(id));
      expect(t[0]).toBe('request.created');
      expect(t).toContain('request.emailed');
      expect(t.some((x) => x === 'key.minted' || x === 'request.denied')).toBe(true);
    }
  });

  it('kubectl delete of an ended request waits for its history to leave, then the Secret goes with a request.deleted record', async () => {
    const w = await world();
    w.worker();
    const { request } = await w.store.create({ email: 'del@example.com', model: 'internal/secret-model' });
    const denied = await until(async () => ((await w.store.get(request.id)).notified === 'denied' ? w.store.get(request.id) : undefined), 'the denial emailed', 30_000);
    expect(denied.finalizers).toEqual([AUDIT_FINALIZER]);
    await kubectl('-n', w.namespace, 'delete', 'secret', `keyreq-${request.id}`, '--timeout=30s');
    const deleted = w.audit.distinct(request.id).find((e) => e.type === 'dev.keyportal.request.deleted');
    expect(deleted?.data).toMatchObject({ state: 'denied', via: 'kubectl', requester: 'del@example.com' });
    expect(types(w.audit.distinct(request.id))).toEqual(['request.created', 'plugin.answered', 'request.denied', 'request.emailed', 'request.deleted']);
  });
});

describe('records about no request', () => {
  it('an offboarding, its lift, and an orphan key deleted at the gateway are spooled and shipped', async () => {
    const w = await world();
    w.worker();
    const now = () => new Date();
    await offboard({ store: w.store, people: w.people }, { email: 'Leaver@example.com', reason: 'Left on Friday', decidedBy: 'webhook:workday', now });
    await liftOffboarding({ store: w.store, people: w.people }, { email: 'leaver@example.com', reason: 'Rehired', liftedBy: 'user:admin@example.com', now });
    // A key with our alias and no request behind it, deleted by the sweep.
    const alias = 'keyportal-aaaaaaaaaaaa';
    const made = await fetch(`${w.gateway.url}/key/generate`, { method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ key_alias: alias, models: ['gpt-4o'] }) });
    expect(made.status).toBe(200);
    const report = await sweepGateway({ store: w.store, gateway: createGateway(testConfig(w.setup)), events: new LogEventRecorder(), orphans: 'delete' });
    expect(report.orphans).toEqual([{ alias, why: 'its request is gone', deleted: true }]);
    const person = `person:${requesterHash('leaver@example.com')}`;
    await until(() => w.audit.distinct(person).length === 2 && w.audit.distinct(`key:${alias}`).length === 1, 'the three records shipped from the spool', 30_000, 200);
    expect(w.audit.distinct(person).map((e) => [e.type, e.data.by, e.data.via, e.data.reason])).toEqual([
      ['dev.keyportal.person.offboarded', 'webhook:workday', 'webhook', 'Left on Friday'],
      ['dev.keyportal.person.readmitted', 'user:admin@example.com', 'portal', 'Rehired'],
    ]);
    expect(w.audit.distinct(`key:${alias}`)[0]?.data).toMatchObject({ alias, why: 'its request is gone' });
    // Acknowledged: the spool is empty again.
    await until(async () => (await new KubernetesAuditSpool(adminKubeConfig(), w.namespace).read(10)).length === 0, 'the spool emptied', 10_000);
  });
});

describe('retention', () => {
  it('deletes ended requests past store.retention.endedDays on a moved clock, only once their records are acknowledged; never issued ones, nor one whose end is recent whatever its created-at says', async () => {
    const w = await world({ retention: { endedDays: 7, maxDeletesPerMinute: 600 } });
    // Today's worker: decides everything and ships the records.
    const today = w.worker();
    const denied = await Promise.all([0, 1, 2].map((i) => w.store.create({ email: `old${i}@example.com`, model: 'internal/secret-model' })));
    const issued = (await w.store.create({ email: 'keeper@example.com', model: 'gpt-4o' })).request;
    for (const d of denied) await until(async () => (await w.store.get(d.request.id)).notified === 'denied', 'denied and emailed', 30_000);
    await until(async () => (await w.store.get(issued.id)).notified === 'issued', 'issued', 30_000);
    for (const id of [...denied.map((d) => d.request.id), issued.id]) await shippedAll(w, id);
    await stopWorker(today);
    // One denial whose records are not acknowledged yet: held, however old.
    const unacked = await w.store.get(denied[2]?.request.id as string);
    await w.store.update(unacked, { audit: [{ type: 'edit.refused', data: { note: 'a late record' } }] });
    w.audit.mode = 'error';

    // Ten days later. A request ended recently but hand-edited to an old created-at stays.
    const later = new Date(Date.now() + 10 * 86_400_000);
    const recent = (await w.store.create({ email: 'recent@example.com', model: 'internal/secret-model' })).request;
    await kubectl('-n', w.namespace, 'annotate', 'secret', `keyreq-${recent.id}`, 'keyportal.dev/created-at=2020-01-01T00:00:00Z', '--overwrite');
    w.clockedWorker(later);
    const gone = (id: string) => w.store.get(id).then(() => false, () => true);
    const deleting = async (id: string) => (await w.store.get(id)).deletingSince !== undefined;
    const [a, b, held] = denied.map((d) => d.request.id) as [string, string, string];
    // With the sink down, the two acknowledged denials are deleted: the audit finalizer keeps them
    // while their request.deleted record waits. The one with a record not acknowledged is not touched.
    await until(async () => (await deleting(a)) && deleting(b), 'the two old denials deleted (held by their last record)', 30_000, 200);
    expect(await deleting(held)).toBe(false);
    expect(await deleting(issued.id)).toBe(false);
    expect(await w.store.get(recent.id)).toMatchObject({ state: 'denied', createdAt: '2020-01-01T00:00:00Z' });
    expect(await deleting(recent.id)).toBe(false);

    // The sink comes back: the deletion records go, the Secrets with them; the held one's late
    // record goes, and at the sweep's next turn the request after it.
    w.audit.mode = 'ok';
    await until(async () => (await gone(a)) && gone(b), 'the two old denials gone once their deletion records were acknowledged', 30_000, 200);
    await until(() => gone(held), 'the held denial deleted once its records were acknowledged', 30_000, 200);
    expect(types(w.audit.distinct(held))).toContain('edit.refused');
    expect(await gone(issued.id)).toBe(false);
    expect(await gone(recent.id)).toBe(false);
    for (const id of [a, b, held]) {
      const rec = w.audit.distinct(id).find((e) => e.type === 'dev.keyportal.request.deleted');
      expect(rec?.data).toMatchObject({ state: 'denied', via: 'keyportal' });
      expect(String(rec?.data.by)).toMatch(/^retention/);
    }

    // Its status link says archived (to its requester and approvers), not "not found"; to anyone else, not found.
    const deps = { store: w.store, config: testConfig(w.setup), archive: new KubernetesArchive(adminKubeConfig(), w.namespace) };
    const id = denied[0]?.request.id as string;
    const asOwner = await getRequest(deps, { email: 'old0@example.com', groups: [], approver: false }, id).catch((e: unknown) => e);
    expect(asOwner).toBeInstanceOf(PortalError);
    expect(asOwner).toMatchObject({ status: 410, code: 'archived' });
    expect((asOwner as PortalError).message).toMatch(new RegExp(`request ${id} ended \\(denied\\) on \\d{4}-\\d{2}-\\d{2} and was archived on`));
    const asStranger = await getRequest(deps, { email: 'eve@example.com', groups: [], approver: false }, id).catch((e: unknown) => e);
    expect(asStranger).toMatchObject({ status: 404 });
    const cm = JSON.parse(await kubectl('-n', w.namespace, 'get', 'configmap', `keyportal-archive-${id.slice(0, 2)}`, '-o', 'json')) as { data: Record<string, string> };
    expect(cm.data[id]).toMatch(/^denied \S+Z \S+Z [0-9a-f]{16}$/);
  });
});
