import { normalizeEmail } from '@/lib/domain/key-request';
import { type DelegationRecord, type OffboardingRecord, type PeopleStore, type RecordInput, isBlocking, newRecord } from '@/lib/people/types';

/** The people store's contract in memory, for unit tests (the real ones: lib/people/kubernetes.ts, local.ts). */
export class MemoryPeople implements PeopleStore {
  readonly records = new Map<string, OffboardingRecord>();
  readonly delegations = new Map<string, DelegationRecord>();

  warm(): void {}
  close(): void {}

  async offboarded(email: string): Promise<OffboardingRecord | undefined> {
    const r = this.records.get(normalizeEmail(email));
    return isBlocking(r) ? r : undefined;
  }

  async offboardingOf(email: string): Promise<OffboardingRecord | undefined> {
    return this.records.get(normalizeEmail(email));
  }

  async recordOffboarding(input: RecordInput): Promise<{ record: OffboardingRecord; changed: boolean }> {
    const existing = this.records.get(normalizeEmail(input.email));
    if (isBlocking(existing)) return { record: existing, changed: false };
    const record = newRecord(input);
    this.records.set(record.email, record);
    return { record, changed: true };
  }

  async liftOffboarding(input: RecordInput): Promise<{ record?: OffboardingRecord; changed: boolean }> {
    const existing = this.records.get(normalizeEmail(input.email));
    if (!isBlocking(existing)) return { ...(existing ? { record: existing } : {}), changed: false };
    const record = { ...existing, lifted: { at: input.at, by: input.by, reason: input.reason } };
    this.records.set(record.email, record);
    return { record, changed: true };
  }

  async delegationsTo(email: string): Promise<DelegationRecord[]> {
    return [...this.delegations.values()].filter((d) => normalizeEmail(d.delegate) === normalizeEmail(email));
  }

  async delegationOf(approver: string): Promise<DelegationRecord | undefined> {
    return this.delegations.get(normalizeEmail(approver));
  }

  async setDelegation(record: DelegationRecord): Promise<void> {
    this.delegations.set(normalizeEmail(record.approver), record);
  }

  async endDelegation(approver: string): Promise<boolean> {
    return this.delegations.delete(normalizeEmail(approver));
  }

  async listOffboardings(): Promise<OffboardingRecord[]> {
    return [...this.records.values()].sort((a, b) => b.at.localeCompare(a.at));
  }
}
