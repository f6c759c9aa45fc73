import { ApiException, type KubeConfig, PatchStrategy } from '@kubernetes/client-node';
import { normalizeEmail, requesterHash } from '../domain/key-request';
import { ObjectCache } from '../kube/object-cache';
import { rawCall } from '../kube/raw';
import { log } from '../log';
import { StoreUnavailableError } from '../store/errors';
import { type DelegationRecord, type OffboardingRecord, type PeopleStore, type RecordInput, delegationRecordSchema, isBlocking, newRecord, offboardingRecordSchema } from './types';

export const OFFBOARDING_COMPONENT = 'offboarding';
export const DELEGATION_COMPONENT = 'delegation';
const SELECTOR = `app.kubernetes.io/component in (${OFFBOARDING_COMPONENT},${DELEGATION_COMPONENT})`;
const SYNC_TIMEOUT_MS = 15_000;

interface ConfigMap {
  apiVersion?: 'v1';
  kind?: 'ConfigMap';
  metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

/** `keyportal-offboarded-<requester hash>`: one object per person, found by name. */
export const offboardingName = (email: string): string => `keyportal-offboarded-${requesterHash(email)}`;
/** `keyportal-delegation-<approver hash>`: at most one delegation per approver. */
export const delegationName = (approver: string): string => `keyportal-delegation-${requesterHash(approver)}`;

function decodeDelegation(cm: ConfigMap): DelegationRecord | undefined {
  const d = cm.data ?? {};
  let groups: unknown = [];
  try {
    groups = JSON.parse(d.groups ?? '[]');
  } catch {
    return undefined;
  }
  const parsed = delegationRecordSchema.safeParse({ approver: d.approver, groups, delegate: d.delegate, until: d.until, createdAt: d.createdAt });
  return parsed.success ? parsed.data : undefined;
}

function encode(r: OffboardingRecord): ConfigMap['data'] {
  return {
    email: r.email,
    offboardedAt: r.at,
    offboardedBy: r.by,
    reason: r.reason,
    ...(r.lifted ? { liftedAt: r.lifted.at, liftedBy: r.lifted.by, liftReason: r.lifted.reason } : {}),
  };
}

function decode(cm: ConfigMap): OffboardingRecord | undefined {
  const d = cm.data ?? {};
  const email = normalizeEmail(d.email ?? '');
  const parsed = offboardingRecordSchema.safeParse({
    requester: requesterHash(email),
    email,
    at: d.offboardedAt,
    by: d.offboardedBy,
    reason: d.reason,
    ...(d.liftedAt ? { lifted: { at: d.liftedAt, by: d.liftedBy, reason: d.liftReason } } : {}),
  });
  // A record edited by hand into nonsense still blocks its person: who left stays out.
  if (!parsed.success) {
    log('warn', 'people: an offboarding record does not parse; it still blocks', { name: cm.metadata?.name });
    return { requester: cm.metadata?.labels?.['keyportal.dev/requester'] ?? '', email, at: d.offboardedAt ?? '', by: d.offboardedBy ?? 'unknown', reason: d.reason ?? 'offboarded' };
  }
  return parsed.data;
}

/**
 * Offboarding records as ConfigMaps in the requests namespace (`kubectl get configmaps -l
 * app.kubernetes.io/component=offboarding`), cached by a list+watch so the check on every session
 * use asks the API server nothing. Writes carry the resourceVersion read, like the requests'.
 */
export class KubernetesPeopleStore implements PeopleStore {
  private readonly cache: ObjectCache<ConfigMap>;
  private readonly path: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
  ) {
    this.path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
    this.cache = new ObjectCache<ConfigMap>(kc, this.path, SELECTOR);
  }

  warm(): void {
    this.cache.start();
  }

  close(): void {
    this.cache.stop();
  }

  async offboarded(email: string): Promise<OffboardingRecord | undefined> {
    const r = await this.offboardingOf(email);
    return isBlocking(r) ? r : undefined;
  }

  async offboardingOf(email: string): Promise<OffboardingRecord | undefined> {
    await this.synced();
    const cm = this.cache.get(offboardingName(email));
    return cm ? decode(cm) : undefined;
  }

  async delegationsTo(email: string): Promise<DelegationRecord[]> {
    await this.synced();
    const me = normalizeEmail(email);
    return this.cache
      .values()
      .filter((cm) => cm.metadata?.labels?.['app.kubernetes.io/component'] === DELEGATION_COMPONENT)
      .map(decodeDelegation)
      .filter((d): d is DelegationRecord => d !== undefined && normalizeEmail(d.delegate) === me);
  }

  async delegationOf(approver: string): Promise<DelegationRecord | undefined> {
    await this.synced();
    const cm = this.cache.get(delegationName(approver));
    return cm ? decodeDelegation(cm) : undefined;
  }

  async setDelegation(record: DelegationRecord): Promise<void> {
    await this.synced();
    const data = { approver: record.approver, groups: JSON.stringify(record.groups), delegate: record.delegate, until: record.until, createdAt: record.createdAt };
    await this.put(delegationName(record.approver), DELEGATION_COMPONENT, requesterHash(record.approver), data);
  }

  async endDelegation(approver: string): Promise<boolean> {
    await this.synced();
    const name = delegationName(approver);
    const current = this.cache.get(name);
    if (!current) return false;
    // Ended by an expiry in the past, not by deletion: the Role grants no delete, and the record stays readable.
    await this.put(name, DELEGATION_COMPONENT, requesterHash(approver), { until: new Date(0).toISOString().replace(/\.\d{3}Z$/, 'Z') });
    return true;
  }

  async listOffboardings(): Promise<OffboardingRecord[]> {
    await this.synced();
    return this.cache
      .values()
      .filter((cm) => cm.metadata?.labels?.['app.kubernetes.io/component'] === OFFBOARDING_COMPONENT)
      .map(decode)
      .filter((r): r is OffboardingRecord => r !== undefined)
      .sort((a, b) => b.at.localeCompare(a.at));
  }

  async recordOffboarding(input: RecordInput): Promise<{ record: OffboardingRecord; changed: boolean }> {
    const existing = await this.offboardingOf(input.email);
    if (isBlocking(existing)) return { record: existing, changed: false };
    const record = newRecord(input);
    await this.write(input.email, record);
    return { record, changed: true };
  }

  async liftOffboarding(input: RecordInput): Promise<{ record?: OffboardingRecord; changed: boolean }> {
    const existing = await this.offboardingOf(input.email);
    if (!isBlocking(existing)) return { ...(existing ? { record: existing } : {}), changed: false };
    const record: OffboardingRecord = { ...existing, lifted: { at: input.at, by: input.by, reason: input.reason } };
    await this.write(input.email, record);
    return { record, changed: true };
  }

  /** Creates the person's offboarding ConfigMap, or replaces its data with the version read (a 409 says someone moved first). */
  private async write(email: string, record: OffboardingRecord): Promise<void> {
    // Every field named: a merge patch would keep liftedAt from a lift this write undoes.
    await this.put(offboardingName(email), OFFBOARDING_COMPONENT, record.requester, { liftedAt: null, liftedBy: null, liftReason: null, ...encode(record) });
  }

  /** Creates a ConfigMap of ours, or merge-patches its data with the version read. */
  private async put(name: string, component: string, requester: string, data: Record<string, string | null>): Promise<void> {
    const current = this.cache.get(name);
    const metadata = { name, labels: { 'app.kubernetes.io/managed-by': 'keyportal', 'app.kubernetes.io/component': component, 'keyportal.dev/requester': requester } };
    const created = Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => e[1] !== null));
    try {
      const written = current
        ? await rawCall<ConfigMap>(this.kc, { method: 'PATCH', path: `${this.path}/${name}`, contentType: PatchStrategy.MergePatch, body: { metadata: { resourceVersion: current.metadata?.resourceVersion }, data } })
        : await rawCall<ConfigMap>(this.kc, { method: 'POST', path: this.path, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: created } });
      this.cache.offer(written);
    } catch (err) {
      if (err instanceof ApiException && err.code === 409) throw new StoreUnavailableError(`the ${component} record ${name} changed while it was written; send it again (it is safe to repeat)`);
      if (err instanceof ApiException && (err.code === 401 || err.code === 403)) {
        throw new StoreUnavailableError(`Kubernetes refused to write ConfigMaps in namespace "${this.namespace}" (HTTP ${err.code}); check the portal's Role (configmaps: create, patch)`);
      }
      throw new StoreUnavailableError(`could not write the ${component} record in "${this.namespace}": ${(err as Error).message}`);
    }
  }

  private async synced(): Promise<void> {
    if (!(await this.cache.waitForSync(SYNC_TIMEOUT_MS))) {
      throw new StoreUnavailableError(`the offboarding records in "${this.namespace}" could not be read: ${this.cache.lastProblem ?? 'not synced yet'}`);
    }
  }
}
