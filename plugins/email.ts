import { z } from 'zod';
import { matchesEmail, patternListSchema } from '@/lib/approval/patterns';
import { commonOptionsSchema, definePlugin } from '@/lib/approval/types';

/**
 * Globs on the requester's address. A match approves; a mismatch denies, as the original design
 * had it, unless `onMismatch: continue` lets the chain go on.
 */
export default definePlugin({
  name: 'email',
  configSchema: commonOptionsSchema.extend({
    patterns: patternListSchema,
    onMismatch: z.enum(['deny', 'continue']).default('deny'),
    reason: z.string().max(500).optional(),
  }).strict(),
  create(config) {
    return {
      async decide(request) {
        const hit = matchesEmail(request.email, config.patterns);
        if (hit) return { outcome: 'approve', reason: `requester address matches "${hit}"` };
        return config.onMismatch === 'deny'
          ? { outcome: 'deny', reason: config.reason ?? 'requester address matches no allowed pattern' }
          : { outcome: 'continue', reason: 'requester address matches no pattern' };
      },
    };
  },
});
