import { z } from 'zod';
import { modelIdSchema } from '../domain/key-request';
import { STATES } from '../domain/states';

/** POST /api/requests */
export const createRequestBody = z.strictObject({ model: modelIdSchema });

const reasonSchema = z
  .string()
  .trim()
  .min(1, 'a reason is required')
  .max(500, 'a reason has at most 500 characters')
  .refine((s) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), 'a reason cannot hold control characters');

/** POST /api/requests/:id/decision. A denial must say why; an approval may. */
export const decisionBody = z
  .strictObject({
    decision: z.enum(['approve', 'deny']),
    reason: reasonSchema.optional(),
  })
  .refine((b) => b.decision === 'approve' || b.reason, { path: ['reason'], message: 'a denial needs a reason the requester will read' });

/** POST /api/requests/:id/revoke */
export const revokeBody = z.strictObject({ reason: reasonSchema });

/** GET /api/approvals query */
export const queueQuery = z.object({
  state: z.enum([...STATES, 'all']).default('all'),
  model: z.string().max(200).default(''),
  requester: z.string().max(254).default(''),
});
export type QueueQuery = z.infer<typeof queueQuery>;

export { reasonSchema };
