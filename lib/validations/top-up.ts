import { z } from 'zod';
import { justificationSchema } from './requests';

/** POST /api/requests/:id/top-up: how much (USD), until when (a temporary one), and why. */
export const topUpBody = z.strictObject({
  /** Its range (above 0, within the tier) is the portal's to judge: 400 naming the field (lib/portal/top-up.ts). */
  amount: z.number({ error: 'expected an amount in USD, as a number' }).finite('expected an amount in USD, as a number'),
  /** A day (`2026-12-31`, the end of that day in UTC) or an RFC 3339 time; absent for a permanent top-up. */
  until: z
    .string()
    .trim()
    .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?Z)?$/, 'expected a day such as 2026-12-31, or an RFC 3339 UTC time')
    .optional(),
  reason: justificationSchema.pipe(z.string().min(1, 'say why you need more budget')),
});
export type TopUpBody = z.infer<typeof topUpBody>;
