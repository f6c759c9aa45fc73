import { z } from 'zod';
import { idSchema } from '../domain/key-request';
import { MAX_USAGE_BATCH } from './usage-batch';

/** GET /api/requests/usage?ids=<id>,<id>: comma-separated request ids, at most one batch. */
export const usageQuery = z.object({
  ids: z
    .string()
    .max(MAX_USAGE_BATCH * 13, `at most ${MAX_USAGE_BATCH} ids`)
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(idSchema).max(MAX_USAGE_BATCH, `at most ${MAX_USAGE_BATCH} ids`)),
});
