import { z } from 'zod';
import { emailSchema, normalizeEmail, requesterHash, timestampSchema } from '../domain/key-request';

/**
 * Someone who left (DESIGN.md amendments, third round: "people who left stay out"): kept per
 * requester hash in the requests namespace, so every replica refuses them at sign-in, on every use
 * of a session, and at request creation, renewal and reveal. A lift is recorded beside the
 * offboarding, never in its place: the history stays.
 */
export interface OffboardingRecord {
  /** The requester hash (lib/domain/key-request.ts `requesterHash`), as the request labels carry it. */
  requester: string;
  email: string;
  at: string;
  /** `user:<email>`, `webhook:<client>`, `keyportal` (a missing required group) or `kubectl`. */
  by: string;
  reason: string;
  lifted?: { at: string; by: string; reason: string };
}

export const offboardingRecordSchema = z.object({
  requester: z.string().regex(/^[0-9a-f]{40}$/),
  email: emailSchema,
  at: timestampSchema,
  by: z.string().min(1).max(300),
  reason: z.string().min(1).max(1000),
  lifted: z.object({ at: timestampSchema, by: z.string().min(1).max(300), reason: z.string().min(1).max(1000) }).optional(),
});

/** Blocks only while not lifted. */
export const isBlocking = (r: OffboardingRecord | undefined): r is OffboardingRecord => Boolean(r && !r.lifted);

export interface RecordInput {
  email: string;
  at: string;
  by: string;
  reason: string;
}

/** An approver's stand-in until a date ("X for Y"): recorded with the groups the approver had then. */
export interface DelegationRecord {
  approver: string;
  /** The approver's groups when they delegated: what the delegate may approve by. */
  groups: string[];
  delegate: string;
  until: string;
  createdAt: string;
}

export const delegationRecordSchema = z.object({
  approver: emailSchema,
  groups: z.array(z.string().max(256)).max(200),
  delegate: emailSchema,
  until: timestampSchema,
  createdAt: timestampSchema,
});

/** The facts about people that live beside the requests: who left, and who stands in for whom. */
export interface PeopleStore {
  /** The standing offboarding of this person (not lifted), from memory; throws StoreUnavailableError until loaded. */
  offboarded(email: string): Promise<OffboardingRecord | undefined>;
  /** The record, lifted or not. */
  offboardingOf(email: string): Promise<OffboardingRecord | undefined>;
  /** Records an offboarding; `changed: false` when one already stands. */
  recordOffboarding(input: RecordInput): Promise<{ record: OffboardingRecord; changed: boolean }>;
  /** Lifts a standing offboarding; `changed: false` when none stands. */
  liftOffboarding(input: RecordInput): Promise<{ record?: OffboardingRecord; changed: boolean }>;
  /** Every record, newest first. */
  listOffboardings(): Promise<OffboardingRecord[]>;
  /** Delegations naming this person as the delegate (expired ones included; the caller compares `until`). */
  delegationsTo(email: string): Promise<DelegationRecord[]>;
  /** The delegation this approver made, if any. */
  delegationOf(approver: string): Promise<DelegationRecord | undefined>;
  /** Records (or replaces) an approver's delegation. */
  setDelegation(record: DelegationRecord): Promise<void>;
  /** Ends an approver's delegation; false when there was none. */
  endDelegation(approver: string): Promise<boolean>;
  /** Starts loading now, so the first sign-in does not wait. */
  warm(): void;
  close(): void;
}

/** The record a fresh offboarding writes (a lifted one is replaced by it). */
export function newRecord(input: RecordInput): OffboardingRecord {
  const email = normalizeEmail(input.email);
  return { requester: requesterHash(email), email, at: input.at, by: input.by, reason: input.reason };
}
