import { z } from 'zod';
import { matchesEmail, patternListSchema } from '@/lib/approval/patterns';
import { commonOptionsSchema, definePlugin } from '@/lib/approval/types';

/**
 * Globs on the requester's address. A match approves; a mismatch denies, as the original design
 * had it, unless `onMismatch: continue` lets the chain go on. A top-up goes on down the chain
 * unless `topUps: true`.
 */
export default definePlugin({
  name: 'email',
  configSchema: commonOptionsSchema.extend({
    patterns: patternListSchema,
    onMismatch: z.enum(['deny', 'continue']).default('deny'),
    reason: z.string().max(500).optional(),
    /** Top-ups are money, not access: approved by an address match only when said so. */
    topUps: z.boolean({ message: 'topUps: expected true or false' }).default(false),
  }).strict(),
  create(config) {
    return {
      async decide(request) {
        if (request.topUp && !config.topUps) return { outcome: 'continue', reason: 'a top-up; this entry judges keys only (topUps: true to judge top-ups too)' };
        const hit = matchesEmail(request.email, config.patterns);
        if (hit) return { outcome: 'approve', reason: `requester address matches "${hit}"` };
        return config.onMismatch === 'deny'
          ? { outcome: 'deny', reason: config.reason ?? 'requester address matches no allowed pattern' }
          : { outcome: 'continue', reason: 'requester address matches no pattern' };
      },
    };
  },
});
