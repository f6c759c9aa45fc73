import { z } from 'zod';
import { emailSchema } from '../domain/key-request';
import { reasonSchema } from './requests';
import { actorSchema } from './webhook';

/** POST /api/webhooks/offboarding: the HR system says someone left. */
export const offboardingWebhookBody = z.strictObject({
  email: emailSchema,
  reason: reasonSchema,
  /** Who offboarded them inside the caller's system; recorded in the reason. The decider is the caller that signed. */
  actor: actorSchema.optional(),
});

/** POST /api/offboarding: an approver's "revoke all keys of this person". */
export const offboardPersonBody = z.strictObject({ email: emailSchema, reason: reasonSchema });

/** GET /api/offboarding?email=: what that would change, for the confirmation step. */
export const offboardPreviewQuery = z.object({ email: emailSchema });

/** DELETE /api/offboarding: an approver lets someone back in, saying why. */
export const liftPersonBody = z.strictObject({ email: emailSchema, reason: reasonSchema });
