import { z } from 'zod';
import { emailSchema } from '../domain/key-request';

/** PUT /api/delegation: a delegate until a date (a day means through its end, UTC) or an exact time. */
export const delegationBody = z.strictObject({
  delegate: emailSchema,
  until: z.union([z.iso.date().transform((d) => `${d}T23:59:59Z`), z.iso.datetime({ offset: true })], { message: 'expected a date (2026-12-24) or a time (2026-12-24T18:00:00Z)' }),
});
