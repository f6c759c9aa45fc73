import { z } from 'zod';
import { modelIdSchema } from '../domain/key-request';
import { limitChangesSchema } from '../domain/review';
import { STATES } from '../domain/states';

/** Why the requester needs the key: plain text, lines allowed, no other control characters. */
export const justificationSchema = z
  .string()
  .trim()
  .max(1000, 'a justification has at most 1000 characters')
  .refine((s) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), 'a justification cannot hold control characters (new lines are fine)');

/** POST /api/requests */
export const createRequestBody = z.strictObject({ model: modelIdSchema, justification: justificationSchema.optional() });

const reasonSchema = z
  .string()
  .trim()
  .min(1, 'a reason is required')
  .max(500, 'a reason has at most 500 characters')
  .refine((s) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), 'a reason cannot hold control characters');

/** POST /api/requests/:id/decision. A denial must say why; an approval may, and may come with changes. */
export const decisionBody = z
  .strictObject({
    decision: z.enum(['approve', 'deny']),
    reason: reasonSchema.optional(),
    changes: limitChangesSchema.optional(),
  })
  .refine((b) => b.decision === 'approve' || b.reason, { path: ['reason'], message: 'a denial needs a reason the requester will read' })
  .refine((b) => b.decision === 'approve' || !b.changes, { path: ['changes'], message: 'only an approval comes with changes' });

/** POST /api/approvals/bulk: one decision for several requests; `preview` only says what each would do. */
export const bulkDecisionBody = z.strictObject({
  ids: z.array(z.string().regex(/^[a-z2-7]{12}$/, 'a request id is 12 characters of a-z and 2-7')).min(1, 'select at least one request').max(100, 'at most 100 at once'),
  decision: z.literal('approve'),
  reason: reasonSchema.optional(),
  preview: z.boolean().default(false),
});

/** POST /api/requests/:id/revoke */
export const revokeBody = z.strictObject({ reason: reasonSchema });

/** The rows per page a listing answers when none is asked for, and the most it answers. */
export const PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** An absent or empty query parameter (`?limit=`) means the default. */
const blank = (v: unknown) => (v === '' ? undefined : v);

const pageParams = {
  cursor: z.preprocess(blank, z.string().max(2000, 'a cursor has at most 2000 characters').optional()),
  limit: z.preprocess(
    blank,
    z
      .string()
      .regex(/^\d{1,6}$/, `expected a whole number from 1 to ${MAX_PAGE_SIZE}`)
      .transform(Number)
      .pipe(z.number().min(1, `expected a whole number from 1 to ${MAX_PAGE_SIZE}`).max(MAX_PAGE_SIZE, `at most ${MAX_PAGE_SIZE} rows per page`))
      .default(PAGE_SIZE),
  ),
};

/** The longest a read is held (`?wait=`): under the 60 s idle timeout of common proxies and load balancers. */
export const MAX_WAIT_SECONDS = 30;

/** Seconds to hold a read's answer while what it reads still matches the client's `If-None-Match`. */
const waitParam = z.preprocess(
  blank,
  z
    .string()
    .regex(/^\d{1,3}$/, `expected a whole number of seconds from 0 to ${MAX_WAIT_SECONDS}`)
    .transform(Number)
    .pipe(z.number().max(MAX_WAIT_SECONDS, `at most ${MAX_WAIT_SECONDS} seconds`))
    .default(0),
);

/** GET /api/requests query: a person's own requests, newest first, a page at a time; `wait` as for one request. */
export const ownQuery = z.object({ ...pageParams, wait: waitParam });
export type OwnQuery = z.infer<typeof ownQuery>;

/** GET /api/approvals query */
export const queueQuery = z.object({
  state: z.preprocess(blank, z.enum([...STATES, 'all']).default('all')),
  model: z.string().max(200).default(''),
  requester: z.string().max(254).default(''),
  ...pageParams,
  wait: waitParam,
});
export type QueueQuery = z.infer<typeof queueQuery>;

export { reasonSchema };

/** POST /api/requests/:id/renew: optionally, the budget chosen for the new key (USD, within the tier). */
export const renewBody = z.strictObject({
  max_budget: z.number({ error: 'expected a budget in USD, as a number' }).finite('expected a budget in USD, as a number').optional(),
});

/** GET /api/requests/:id query: `wait`, seconds to hold the answer while the request still matches the client's `If-None-Match`. */
export const statusQuery = z.object({ wait: waitParam });
