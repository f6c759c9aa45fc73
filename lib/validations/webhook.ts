import { z } from 'zod';
import { idSchema } from '../domain/key-request';
import { reasonSchema } from './requests';

/** Who acted inside the calling system (a user name, an email, a system id); recorded in the reason, never as the decider. */
export const actorSchema = z
  .string()
  .trim()
  .min(1, 'name who acted, or leave actor out')
  .max(100)
  .regex(/^[^\s,;]+$/, 'an actor is one word: a user name, an email or a system id');

/** The HR / ticket system's approval call: POST /api/webhooks/approval. */
export const approvalWebhookBody = z.strictObject({
  request_id: idSchema,
  // HR systems shout: APPROVE and Approve mean approve.
  decision: z.string().transform((s) => s.toLowerCase()).pipe(z.enum(['approve', 'deny'], { message: 'expected "approve" or "deny"' })),
  reason: reasonSchema,
  /** Who decided inside the caller's system; recorded in the reason. The decider is the caller that signed. */
  actor: actorSchema.optional(),
});
export type ApprovalWebhookBody = z.infer<typeof approvalWebhookBody>;
