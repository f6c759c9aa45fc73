import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { boundedMemo } from './bounded-memo';
import type { TraceEntry } from './trace';
import type { RetryInfo } from './retry';
import type { Review } from './review';
import type { ChatRecord } from './chat-record';
import type { State } from './states';
import type { BudgetMove, TopUp } from './top-up';

/** What a request is, as the rest of the code sees it. The minted key is never part of it. */
export interface KeyRequest {
  id: string;
  email: string;
  model: string;
  state: State;
  createdAt: string;
  decidedAt?: string;
  decidedBy?: string;
  reason?: string;
  /** The state the requester was last emailed about. */
  notified?: string;
  expiresAt?: string;
  /** When the requester was shown the key on the reveal page (portal delivery shows it once). */
  revealedAt?: string;
  /** Every plugin's answer when the chain last ran. */
  trace?: TraceEntry[];
  /** Set while a step waits to be retried (gateway or SMTP down). */
  retry?: RetryInfo;
  /** Which decision decidedBy/decidedAt/reason describe; a state label that differs was edited by hand (kubectl). */
  decision?: 'approved' | 'denied' | 'revoked';
  /** A replica claimed sending that state's email at that time. */
  notifying?: NotifyClaim;
  /** The Secret's uid, so Kubernetes Events attach to it. */
  uid?: string;
  /** The minted key's SHA-256 (hex): the gateway is asked by it, never by the key. */
  keySha256?: string;
  /** When the key was minted (the reveal window counts from here). */
  issuedAt?: string;
  /** True while `data.key` holds a key; the value itself is read only through the store's `readKey`. */
  hasKey: boolean;
  /** The request this one renews (same requester and model); the old key keeps working until its own expiry. */
  renews?: string;
  /** Days before expiry of the last expiry reminder sent: every reminder at or before that many days is done. */
  reminded?: number;
  /** Why the requester needs the key, when the model's policy asks (lib/approval/policy.ts). */
  justification?: string;
  /** The requester's manager, as the identity provider or the http plugin said at request time. */
  manager?: string;
  /** When the loop held it for review: the review deadline counts from here (not from created-at, which a hand edit can move). */
  reviewSince?: string;
  /** The days (UTC) it was last in the approvers' daily digest, and in the escalation digest. */
  reviewDigest?: ReviewDigest;
  /** Every review given while the request was in review, oldest first. */
  reviews?: Review[];
  /** What chat (Slack) was told about this request (lib/loop/chat.ts). */
  chat?: ChatRecord;
  /**
   * The state the portal or the loop last wrote or accepted, and a fingerprint of the reason it
   * last wrote: a `state` label that differs was edited by hand (kubectl) and is checked against
   * the label-edit table; a reason that differs was annotated by an administrator. Absent on
   * requests stored before it existed.
   */
  observed?: Observed;
  /** The budget (USD) the requester chose for the key, within the tier: a renewal sized from the old key's use. Minted instead of the model's. */
  budget?: number;
  /** A top-up (lib/domain/top-up.ts): the id of the issued key's request it adds budget to. */
  topsUp?: string;
  /** A top-up: how much and until when, as asked. */
  topUp?: TopUp;
  /** A top-up: the key's budget before, as applied, and once put back. */
  budgetMove?: BudgetMove;
  /** An issued key: when its requester was told it has not been used (lifecycle.idleDays); cleared once it is used again. */
  idleWarnedAt?: string;
  /** An issued key: the budget period (its reset time, or `key` for a budget that never resets) whose spend alert was sent. */
  budgetAlert?: string;
  /** Every finalizer on the Secret (ours, `keyportal.dev/gateway-key`, and any an admin added); absent when none. */
  finalizers?: readonly string[];
  /** Set once someone deleted the Secret while a finalizer held it (its deletionTimestamp). */
  deletingSince?: string;
  /** Audit records written with the request's changes and not yet acknowledged by the sink (JSON; lib/audit/record.ts parses it when shipping). */
  auditPending?: string;
  /**
   * Set by the Kubernetes cache when it let go of `auditPending` because the audit cursor covers
   * this version (lib/audit/cursor.ts): the id of the last record it held, so the version after
   * a hand edit can tell which of its records had already gone.
   */
  auditShippedUpTo?: string;
  /** Opaque version of the stored object; every update must carry the one it read. */
  resourceVersion: string;
}

export interface Observed {
  state: State;
  /** First 12 hex characters of the SHA-256 of the reason our code last wrote; absent if it wrote none. */
  reason?: string;
}

/** The finalizer a request carries while a key of it may exist at the gateway: deleting the Secret deletes the key first. */
export const GATEWAY_KEY_FINALIZER = 'keyportal.dev/gateway-key';

export const holdsGatewayFinalizer = (r: Pick<KeyRequest, 'finalizers'>): boolean => r.finalizers?.includes(GATEWAY_KEY_FINALIZER) ?? false;

/** The finalizer a top-up carries while the key's budget may hold its amount: deleting the Secret puts the budget back first. */
export const TOP_UP_FINALIZER = 'keyportal.dev/top-up-budget';

export const holdsTopUpFinalizer = (r: Pick<KeyRequest, 'finalizers'>): boolean => r.finalizers?.includes(TOP_UP_FINALIZER) ?? false;

/**
 * The finalizer every request carries from its creation: deleting the Secret (kubectl, or the
 * retention sweep) leaves it in place until its last audit records and the `request.deleted`
 * record were acknowledged by the audit sink, so no history leaves with the Secret.
 */
export const AUDIT_FINALIZER = 'keyportal.dev/audit';

/** Short fingerprint of a reason: tells "the reason we wrote" from "one an administrator annotated since". */
export const reasonFingerprint = (reason: string | undefined): string | undefined =>
  reason === undefined ? undefined : createHash('sha256').update(reason).digest('hex').slice(0, 12);

/** The state the loop last accepted: a label that differs is an administrator's edit not yet judged. */
export const acceptedState = (r: Pick<KeyRequest, 'state' | 'observed'>): State => r.observed?.state ?? r.state;

/** An administrator changed the state label and the loop has not judged the edit yet. */
export const hasPendingLabelEdit = (r: Pick<KeyRequest, 'state' | 'observed'>): boolean => acceptedState(r) !== r.state;

/** Whether the reason on the request is one an administrator annotated after our last write. */
export const reasonAnnotatedByHand = (r: Pick<KeyRequest, 'reason' | 'observed'>): boolean =>
  r.reason !== undefined && r.observed !== undefined && reasonFingerprint(r.reason) !== r.observed.reason;

export interface ReviewDigest {
  reminded?: string;
  escalated?: string;
}

export interface NotifyClaim {
  state: State;
  at: string;
  /** Set when the claim is on an expiry reminder (that many days before expiry), not on the state's email. */
  reminder?: number;
}

// Crockford-free lowercase base32 (RFC 4648 alphabet, lower-cased): valid in DNS names and labels.
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
export const ID_LENGTH = 12;
export const idSchema = z
  .string()
  .regex(/^[a-z2-7]{12}$/, 'a request id is 12 characters of a-z and 2-7');

/** 12 random base32 characters: 60 bits, so collisions are not a practical concern. */
export function newRequestId(): string {
  const bytes = randomBytes(ID_LENGTH);
  let id = '';
  for (const b of bytes) id += BASE32[b & 31];
  return id;
}

export const SECRET_PREFIX = 'keyreq-';
export const secretName = (id: string): string => `${SECRET_PREFIX}${id}`;
export function idFromSecretName(name: string): string | undefined {
  if (!name.startsWith(SECRET_PREFIX)) return undefined;
  const id = name.slice(SECRET_PREFIX.length);
  return idSchema.safeParse(id).success ? id : undefined;
}

/** Emails are compared case-insensitively everywhere; this is the one place that says how. */
export const normalizeEmail = (email: string): string => email.trim().toLowerCase();

/**
 * The label hashes, remembered. Every decode of a stored request checks its two label hashes
 * against its annotations, and every use of a session looks the person's offboarding up by the
 * first: the same addresses hashed again and again, 1.5–2 % of the web server's CPU in the load
 * bench and half a percent of the loop's.
 */
const LABEL_HASHES_KEPT = 10_000;
const sha40 = boundedMemo(LABEL_HASHES_KEPT, (s) => createHash('sha256').update(s).digest('hex').slice(0, 40));

/** A key's SHA-256 in hex: what LiteLLM stores as the key's `token` and looks keys up by. */
export const keyHash = (key: string): string => createHash('sha256').update(key).digest('hex');

/** Label value naming the requester: label values cannot hold `@`. */
export const requesterHash = (email: string): string => sha40(normalizeEmail(email));

/** Label value naming the (requester, model) pair, so one selector finds a duplicate. */
export const pairHash = (email: string, model: string): string => sha40(`${normalizeEmail(email)}\n${model}`);

export const emailSchema = z.email({ message: 'expected an email address' }).max(254);

/** Model ids as catalogs and gateways use them: `gpt-4o`, `anthropic/claude-3`, `azure/gpt-4@eu`. */
export const modelIdSchema = z
  .string()
  .min(1, 'a model id cannot be empty')
  .max(200, 'a model id has at most 200 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/, 'a model id holds letters, digits and . _ : / @ + -');

/** RFC 3339 in UTC with `Z`, as every timestamp annotation is written. */
export const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The UTC day of an instant, `YYYY-MM-DD`, as LiteLLM's daily activity and the digests count days. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
export const timestampSchema = z.iso.datetime({ offset: false, message: 'expected an RFC 3339 UTC time ending in Z' });
