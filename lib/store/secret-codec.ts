import { z } from 'zod';
import {
  AUDIT_FINALIZER,
  type KeyRequest,
  type NotifyClaim,
  type Observed,
  emailSchema,
  idFromSecretName,
  idSchema,
  modelIdSchema,
  pairHash,
  requesterHash,
  secretName,
  timestampSchema,
} from '../domain/key-request';
import { stateSchema } from '../domain/states';
import { describeIssues } from '../validations/issues';
import { MalformedSecretError } from './errors';
import { type TraceEntry, traceSchema } from '../domain/trace';
import { retryInfoSchema } from '../domain/retry';
import { reviewsSchema } from '../domain/review';
import { chatRecordSchema } from '../domain/chat-record';
import { type TopUp, budgetMoveSchema, topUpSchema } from '../domain/top-up';
import { newRecord } from '../audit/record';
import { createdFact } from '../audit/derive';

/** The storage schema of DESIGN.md, in one place: every label and annotation key. */
export const LABEL = {
  managedBy: 'app.kubernetes.io/managed-by',
  component: 'app.kubernetes.io/component',
  state: 'keyportal.dev/state',
  requester: 'keyportal.dev/requester',
  pair: 'keyportal.dev/pair',
  // `top-up` on a top-up, absent on a key request: `kubectl get secrets -l keyportal.dev/kind=top-up`.
  kind: 'keyportal.dev/kind',
} as const;

export const ANNOTATION = {
  email: 'keyportal.dev/email',
  model: 'keyportal.dev/model',
  createdAt: 'keyportal.dev/created-at',
  decidedAt: 'keyportal.dev/decided-at',
  decidedBy: 'keyportal.dev/decided-by',
  reason: 'keyportal.dev/reason',
  notified: 'keyportal.dev/notified',
  expiresAt: 'keyportal.dev/expires-at',
  // Beyond DESIGN.md's list (see the loop's notes): machine-written, JSON or "<state> <time>".
  trace: 'keyportal.dev/trace',
  retry: 'keyportal.dev/retry',
  notifying: 'keyportal.dev/notifying',
  // Which decision decided-by/decided-at/reason describe: a state label that differs was set by hand.
  decision: 'keyportal.dev/decision',
  // When the requester saw the key on the reveal page (portal delivery): it is shown once.
  revealedAt: 'keyportal.dev/revealed-at',
  // The minted key's SHA-256 (hex): how the gateway is asked about it once data.key is erased.
  // An annotation, not data: it is no credential (LiteLLM shows it as the key's `token` in its
  // own UI and logs, and using it needs the master key), and an admin can grep for it.
  keySha256: 'keyportal.dev/key-sha256',
  // When the key was minted: the reveal window counts from here.
  issuedAt: 'keyportal.dev/issued-at',
  // The id of the request this one renews: set once, at creation, by the portal.
  renews: 'keyportal.dev/renews',
  // Days before expiry of the last expiry reminder sent ("3"): each reminder goes out once.
  reminded: 'keyportal.dev/reminded',
  // The state our code last wrote or accepted, and a fingerprint of the reason it last wrote
  // (JSON): a label that differs is an administrator's edit, judged against the label-edit table.
  observed: 'keyportal.dev/observed',
  // Approval policies (lib/approval/policy.ts): why the requester asks, their manager, and every
  // review so far (JSON, written with the version read, so two reviewers at once are both kept).
  justification: 'keyportal.dev/justification',
  manager: 'keyportal.dev/manager',
  reviews: 'keyportal.dev/reviews',
  chat: 'keyportal.dev/chat',
  // Top-ups (lib/domain/top-up.ts): the key's request a top-up adds budget to, what it asks
  // (JSON), and the key's budget before, as applied and once put back (JSON, written before the
  // gateway is asked). On a key: the budget period whose spend alert went out.
  topsUp: 'keyportal.dev/tops-up',
  topUp: 'keyportal.dev/top-up',
  budgetMove: 'keyportal.dev/budget-move',
  budgetAlert: 'keyportal.dev/budget-alert',
  // The budget (USD) the requester chose within the tier, set once at creation: a renewal sized
  // from the old key's use. Minted instead of the model's max_budget.
  budget: 'keyportal.dev/budget',
  // When the requester was told the key has not been used (lifecycle.idleDays).
  idleWarnedAt: 'keyportal.dev/idle-warned-at',
  // When the loop held it for review (the deadline counts from here), and the days it was in the
  // approvers' daily digest and the escalation digest (JSON).
  reviewSince: 'keyportal.dev/review-since',
  reviewDigest: 'keyportal.dev/review-digest',
  // Audit records (lib/audit/) written with the changes they describe, until the sink acknowledges
  // them (JSON array of CloudEvents-shaped records; removed record by record as they are shipped).
  audit: 'keyportal.dev/audit',
} as const;

export const MANAGED_BY = 'keyportal';
export const COMPONENT = 'key-request';
/** Selects every request Secret; the loop's watch and every listing start from it. */
export const REQUEST_SELECTOR = `${LABEL.component}=${COMPONENT}`;

/** A Secret as the API server and the local directory both hold it. */
export interface SecretObject {
  apiVersion: 'v1';
  kind: 'Secret';
  type: 'Opaque';
  metadata: {
    name: string;
    namespace?: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    finalizers?: string[];
    deletionTimestamp?: string;
  };
  data?: Record<string, string>;
}

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64');

/** What a request Secret must look like when read back; a hand edit that breaks it is reported. */
const storedSecretSchema = z.object({
  metadata: z.object({
    name: z.string().refine((n) => idFromSecretName(n) !== undefined, 'expected keyreq-<12 base32 chars>'),
    resourceVersion: z.string().min(1),
    uid: z.string().optional(),
    finalizers: z.array(z.string()).nullish(),
    deletionTimestamp: z.string().nullish(),
    labels: z.object({
      [LABEL.state]: stateSchema,
      [LABEL.requester]: z.string(),
      [LABEL.pair]: z.string(),
    }),
    annotations: z.object({
      [ANNOTATION.email]: emailSchema,
      [ANNOTATION.model]: modelIdSchema,
      [ANNOTATION.createdAt]: timestampSchema,
      [ANNOTATION.decidedAt]: timestampSchema.optional(),
      [ANNOTATION.decidedBy]: z.string().optional(),
      [ANNOTATION.reason]: z.string().optional(),
      [ANNOTATION.notified]: z.string().optional(),
      [ANNOTATION.expiresAt]: timestampSchema.optional(),
      [ANNOTATION.trace]: z.string().optional(),
      [ANNOTATION.retry]: z.string().optional(),
      [ANNOTATION.notifying]: z.string().optional(),
      [ANNOTATION.decision]: z.enum(['approved', 'denied', 'revoked']).optional(),
      [ANNOTATION.revealedAt]: timestampSchema.optional(),
      [ANNOTATION.keySha256]: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 hex characters').optional(),
      [ANNOTATION.issuedAt]: timestampSchema.optional(),
      [ANNOTATION.renews]: idSchema.optional(),
      [ANNOTATION.reminded]: z.string().regex(/^[1-9][0-9]{0,2}$/, 'expected a whole number of days (1 to 999)').optional(),
      [ANNOTATION.observed]: z.string().optional(),
      [ANNOTATION.justification]: z.string().max(2000).optional(),
      [ANNOTATION.manager]: emailSchema.optional(),
      [ANNOTATION.reviews]: z.string().optional(),
      [ANNOTATION.chat]: z.string().optional(),
      [ANNOTATION.topsUp]: idSchema.optional(),
      [ANNOTATION.topUp]: z.string().optional(),
      [ANNOTATION.budgetMove]: z.string().optional(),
      [ANNOTATION.budgetAlert]: z.string().max(64).optional(),
      [ANNOTATION.idleWarnedAt]: timestampSchema.optional(),
      [ANNOTATION.reviewSince]: timestampSchema.optional(),
      [ANNOTATION.reviewDigest]: z.string().optional(),
      [ANNOTATION.audit]: z.string().optional(),
      [ANNOTATION.budget]: z.string().regex(/^\d{1,7}(\.\d{1,2})?$/, 'expected an amount in USD such as 25 or 12.50').optional(),
    }),
  }),
  data: z.record(z.string(), base64).nullish(),
});

/** Parses a Secret read back from storage. Throws MalformedSecretError naming the bad field. */
export function decodeRequest(raw: unknown): KeyRequest {
  const name =
    typeof raw === 'object' && raw !== null && 'metadata' in raw
      ? String((raw as { metadata?: { name?: unknown } }).metadata?.name ?? '(unnamed)')
      : '(unnamed)';
  const parsed = storedSecretSchema.safeParse(raw);
  if (!parsed.success) throw new MalformedSecretError(name, describeIssues(parsed.error, { root: '(root)' }).map((i) => `${i.path}: ${i.message}`).join('; '));
  const { metadata, data } = parsed.data;
  const a = metadata.annotations;
  const email = a[ANNOTATION.email];
  const model = a[ANNOTATION.model];
  // The hashes are derived; if someone edited email or model by hand they no longer agree, and
  // duplicate detection and per-user listings would silently miss the request.
  if (metadata.labels[LABEL.requester] !== requesterHash(email)) {
    throw new MalformedSecretError(name, `label ${LABEL.requester} does not match annotation ${ANNOTATION.email}`);
  }
  if (metadata.labels[LABEL.pair] !== pairHash(email, model)) {
    throw new MalformedSecretError(name, `label ${LABEL.pair} does not match the email and model annotations`);
  }
  const request: KeyRequest = {
    id: idFromSecretName(metadata.name) as string,
    email,
    model: intern(model),
    state: metadata.labels[LABEL.state],
    createdAt: a[ANNOTATION.createdAt],
    hasKey: Boolean(data?.key),
    resourceVersion: metadata.resourceVersion,
  };
  if (metadata.uid) request.uid = metadata.uid;
  if (metadata.finalizers?.length) request.finalizers = metadata.finalizers;
  if (metadata.deletionTimestamp) request.deletingSince = metadata.deletionTimestamp;
  const observed = sharedObserved(a[ANNOTATION.observed]);
  if (observed) request.observed = observed;
  if (a[ANNOTATION.justification]) request.justification = a[ANNOTATION.justification];
  if (a[ANNOTATION.manager]) request.manager = a[ANNOTATION.manager];
  const reviews = lenientJson(a[ANNOTATION.reviews], reviewsSchema);
  if (reviews?.length) request.reviews = reviews;
  const chat = lenientJson(a[ANNOTATION.chat], chatRecordSchema);
  if (chat) request.chat = chat;
  const trace = sharedTrace(a[ANNOTATION.trace]);
  if (trace) request.trace = trace;
  const retry = lenientJson(a[ANNOTATION.retry], retryInfoSchema);
  if (retry) request.retry = retry;
  const claim = notifyClaim(a[ANNOTATION.notifying]);
  if (claim) request.notifying = claim;
  if (a[ANNOTATION.decision]) request.decision = a[ANNOTATION.decision];
  if (a[ANNOTATION.renews]) request.renews = a[ANNOTATION.renews];
  if (a[ANNOTATION.reminded]) request.reminded = Number(a[ANNOTATION.reminded]);
  if (a[ANNOTATION.topsUp]) {
    // A top-up that does not say how much cannot be applied: reported, not guessed.
    const topUp = lenientJson(a[ANNOTATION.topUp], topUpSchema);
    if (!topUp) throw new MalformedSecretError(name, `annotation ${ANNOTATION.topUp}: expected {"amount": <USD above 0>, "until"?: <RFC 3339 UTC>} on a top-up`);
    request.topsUp = a[ANNOTATION.topsUp];
    request.topUp = topUp;
  }
  const budgetMove = lenientJson(a[ANNOTATION.budgetMove], budgetMoveSchema);
  if (budgetMove) request.budgetMove = budgetMove;
  if (a[ANNOTATION.budgetAlert]) request.budgetAlert = a[ANNOTATION.budgetAlert];
  if (a[ANNOTATION.budget]) request.budget = Number(a[ANNOTATION.budget]);
  if (a[ANNOTATION.idleWarnedAt]) request.idleWarnedAt = a[ANNOTATION.idleWarnedAt];
  if (a[ANNOTATION.reviewSince]) request.reviewSince = a[ANNOTATION.reviewSince];
  if (a[ANNOTATION.audit]) request.auditPending = a[ANNOTATION.audit];
  const digest = lenientJson(a[ANNOTATION.reviewDigest], reviewDigestSchema);
  if (digest) request.reviewDigest = digest;
  const optional = {
    decidedAt: a[ANNOTATION.decidedAt],
    decidedBy: a[ANNOTATION.decidedBy],
    reason: a[ANNOTATION.reason],
    notified: a[ANNOTATION.notified],
    expiresAt: a[ANNOTATION.expiresAt],
    revealedAt: a[ANNOTATION.revealedAt],
    keySha256: a[ANNOTATION.keySha256],
    issuedAt: a[ANNOTATION.issuedAt],
  };
  const shared = new Set(['decidedBy', 'reason', 'notified']);
  for (const [k, v] of Object.entries(optional)) {
    if (v !== undefined) (request as unknown as Record<string, string>)[k] = shared.has(k) ? intern(v) : v;
  }
  return request;
}

/** Reads `data.key` of a Secret, or undefined when no key has been minted. */
export function decodeKey(secret: Pick<SecretObject, 'data'>): string | undefined {
  const b64 = secret.data?.key;
  return b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
}

/** The Secret for a new request, in state `pending`, with its `request.created` audit record and the audit finalizer. */
export function encodeNewRequest(input: { id: string; email: string; model: string; createdAt: string; renews?: string; justification?: string; manager?: string; topsUp?: string; topUp?: TopUp; budget?: number }): SecretObject {
  const created = newRecord(input.id, createdFact(input), new Date(input.createdAt));
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: secretName(input.id),
      labels: {
        [LABEL.managedBy]: MANAGED_BY,
        [LABEL.component]: COMPONENT,
        [LABEL.state]: 'pending',
        [LABEL.requester]: requesterHash(input.email),
        [LABEL.pair]: pairHash(input.email, input.model),
        ...(input.topsUp ? { [LABEL.kind]: 'top-up' } : {}),
      },
      annotations: {
        [ANNOTATION.email]: input.email,
        [ANNOTATION.model]: input.model,
        [ANNOTATION.createdAt]: input.createdAt,
        [ANNOTATION.observed]: JSON.stringify({ state: 'pending' }),
        [ANNOTATION.audit]: JSON.stringify([created]),
        ...(input.renews ? { [ANNOTATION.renews]: input.renews } : {}),
        ...(input.justification ? { [ANNOTATION.justification]: input.justification } : {}),
        ...(input.manager ? { [ANNOTATION.manager]: input.manager } : {}),
        ...(input.budget !== undefined ? { [ANNOTATION.budget]: String(input.budget) } : {}),
        ...(input.topsUp && input.topUp ? { [ANNOTATION.topsUp]: input.topsUp, [ANNOTATION.topUp]: JSON.stringify(input.topUp) } : {}),
      },
      finalizers: [AUDIT_FINALIZER],
    },
  };
}

/**
 * The cache holds every request in memory, and most of their text repeats: the model, the
 * decider, the plugin's reason, the trace. One copy each (up to a bound) instead of one per
 * request keeps 100,000 requests in a few tens of MB.
 */
const INTERN_LIMIT = 20_000;
const interned = new Map<string, string>();
function intern(s: string): string {
  const found = interned.get(s);
  if (found !== undefined) return found;
  if (interned.size < INTERN_LIMIT) interned.set(s, s);
  return s;
}

const traces = new Map<string, readonly TraceEntry[]>();
/** A parsed trace, shared (and frozen) between every request whose annotation is the same text. */
function sharedTrace(text: string | undefined): TraceEntry[] | undefined {
  if (!text) return undefined;
  const found = traces.get(text);
  if (found) return found as TraceEntry[];
  const parsed = lenientJson(text, traceSchema);
  if (!parsed) return undefined;
  const frozen = Object.freeze(parsed.map((t) => Object.freeze(t)));
  if (traces.size < INTERN_LIMIT) traces.set(text, frozen);
  return frozen as TraceEntry[];
}

const observedSchema = z.object({ state: stateSchema, reason: z.string().regex(/^[0-9a-f]{12}$/).optional() });
const observations = new Map<string, Observed>();
/** The observed annotation, parsed once per distinct text (most requests share a few). */
function sharedObserved(text: string | undefined): Observed | undefined {
  if (!text) return undefined;
  const found = observations.get(text);
  if (found) return found;
  const parsed = lenientJson(text, observedSchema);
  if (!parsed) return undefined;
  const observed: Observed = Object.freeze(parsed.reason === undefined ? { state: parsed.state } : { state: parsed.state, reason: parsed.reason });
  if (observations.size < INTERN_LIMIT) observations.set(text, observed);
  return observed;
}

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
const reviewDigestSchema = z.object({ reminded: day.optional(), escalated: day.optional() });

const claimSchema = z.object({ state: stateSchema, at: timestampSchema, reminder: z.int().positive().optional() });

/** The email claim: JSON, or `<state> <time>` as replicas before the JSON form wrote it. */
function notifyClaim(text: string | undefined): NotifyClaim | undefined {
  if (!text) return undefined;
  if (text.startsWith('{')) return lenientJson(text, claimSchema);
  const [state, at] = text.split(' ');
  const legacy = claimSchema.safeParse({ state, at });
  return legacy.success ? legacy.data : undefined;
}

/** Parses a machine-written JSON annotation; a hand-mangled one reads as absent, not as fatal. */
function lenientJson<T>(text: string | undefined, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }): T | undefined {
  if (!text) return undefined;
  try {
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
