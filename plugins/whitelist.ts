import { z } from 'zod';
import { matchesModel, patternListSchema } from '@/lib/approval/patterns';
import { commonOptionsSchema, definePlugin } from '@/lib/approval/types';

/** Approves a model that matches one of its patterns; lets the chain go on otherwise. */
export default definePlugin({
  name: 'whitelist',
  configSchema: commonOptionsSchema.extend({
    models: patternListSchema,
    reason: z.string().max(500).optional(),
  }).strict(),
  create(config) {
    return {
      async decide(request) {
        const hit = matchesModel(request.model, config.models);
        return hit
          ? { outcome: 'approve', reason: config.reason ?? `model ${request.model} matches "${hit}"` }
          : { outcome: 'continue', reason: `model ${request.model} matches no whitelist pattern` };
      },
    };
  },
});
