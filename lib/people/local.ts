import { mkdir, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { normalizeEmail, requesterHash } from '../domain/key-request';
import { writeFileAtomic } from '../fs/atomic-write';
import { KeyedLock } from '../fs/keyed-lock';
import { StoreUnavailableError } from '../store/errors';
import { type DelegationRecord, type OffboardingRecord, type PeopleStore, type RecordInput, delegationRecordSchema, isBlocking, newRecord, offboardingRecordSchema } from './types';

/**
 * The embedded default's offboarding records: one JSON file per person in `<dir>/offboarded/`,
 * named by the requester hash, written atomically. Read on each check: a laptop's portal has few.
 */
export class LocalPeopleStore implements PeopleStore {
  private readonly lock = new KeyedLock();

  constructor(private readonly dir: string) {}

  warm(): void {}

  close(): void {}

  async offboarded(email: string): Promise<OffboardingRecord | undefined> {
    const r = await this.offboardingOf(email);
    return isBlocking(r) ? r : undefined;
  }

  async offboardingOf(email: string): Promise<OffboardingRecord | undefined> {
    return this.read(this.file(email));
  }

  async listOffboardings(): Promise<OffboardingRecord[]> {
    let names: string[];
    try {
      names = await readdir(path.join(/*turbopackIgnore: true*/ this.dir, 'offboarded'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new StoreUnavailableError(`cannot read ${this.dir}/offboarded: ${(err as NodeJS.ErrnoException).code}`);
    }
    const records = await Promise.all(names.filter((n) => /^[0-9a-f]{40}\.json$/.test(n)).map((n) => this.read(path.join(/*turbopackIgnore: true*/ this.dir, 'offboarded', n))));
    return records.filter((r): r is OffboardingRecord => r !== undefined).sort((a, b) => b.at.localeCompare(a.at));
  }

  recordOffboarding(input: RecordInput): Promise<{ record: OffboardingRecord; changed: boolean }> {
    return this.lock.run(requesterHash(input.email), async () => {
      const existing = await this.offboardingOf(input.email);
      if (isBlocking(existing)) return { record: existing, changed: false };
      const record = newRecord(input);
      await this.write(record);
      return { record, changed: true };
    });
  }

  liftOffboarding(input: RecordInput): Promise<{ record?: OffboardingRecord; changed: boolean }> {
    return this.lock.run(requesterHash(input.email), async () => {
      const existing = await this.offboardingOf(input.email);
      if (!isBlocking(existing)) return { ...(existing ? { record: existing } : {}), changed: false };
      const record: OffboardingRecord = { ...existing, lifted: { at: input.at, by: input.by, reason: input.reason } };
      await this.write(record);
      return { record, changed: true };
    });
  }

  async delegationsTo(email: string): Promise<DelegationRecord[]> {
    const me = normalizeEmail(email);
    return (await this.allDelegations()).filter((d) => normalizeEmail(d.delegate) === me);
  }

  async delegationOf(approver: string): Promise<DelegationRecord | undefined> {
    return this.readDelegation(path.join(/*turbopackIgnore: true*/ this.dir, 'delegations', `${requesterHash(approver)}.json`));
  }

  async setDelegation(record: DelegationRecord): Promise<void> {
    await mkdir(path.join(/*turbopackIgnore: true*/ this.dir, 'delegations'), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path.join(/*turbopackIgnore: true*/ this.dir, 'delegations', `${requesterHash(record.approver)}.json`), JSON.stringify(record, null, 2));
  }

  async endDelegation(approver: string): Promise<boolean> {
    const current = await this.delegationOf(approver);
    if (!current) return false;
    await this.setDelegation({ ...current, until: new Date(0).toISOString().replace(/\.\d{3}Z$/, 'Z') });
    return true;
  }

  private async allDelegations(): Promise<DelegationRecord[]> {
    let names: string[];
    try {
      names = await readdir(path.join(/*turbopackIgnore: true*/ this.dir, 'delegations'));
    } catch {
      return [];
    }
    const all = await Promise.all(names.filter((n) => n.endsWith('.json')).map((n) => this.readDelegation(path.join(/*turbopackIgnore: true*/ this.dir, 'delegations', n))));
    return all.filter((d): d is DelegationRecord => d !== undefined);
  }

  private async readDelegation(file: string): Promise<DelegationRecord | undefined> {
    try {
      const parsed = delegationRecordSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  private file(email: string): string {
    return path.join(/*turbopackIgnore: true*/ this.dir, 'offboarded', `${requesterHash(email)}.json`);
  }

  private async read(file: string): Promise<OffboardingRecord | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StoreUnavailableError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`);
    }
    try {
      const parsed = offboardingRecordSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
    } catch {
      // fall through: a file edited into nonsense still blocks its person
    }
    return { requester: path.basename(file, '.json'), email: '', at: '', by: 'unknown', reason: 'offboarded' };
  }

  private async write(record: OffboardingRecord): Promise<void> {
    await mkdir(path.join(/*turbopackIgnore: true*/ this.dir, 'offboarded'), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path.join(/*turbopackIgnore: true*/ this.dir, 'offboarded', `${record.requester}.json`), JSON.stringify(record, null, 2));
  }
}
