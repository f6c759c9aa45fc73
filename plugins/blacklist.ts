import { z } from 'zod';
import { matchesModel, patternListSchema } from '@/lib/approval/patterns';
import { commonOptionsSchema, definePlugin } from '@/lib/approval/types';

/** Denies a model that matches one of its patterns; lets the chain go on otherwise. */
export default definePlugin({
  name: 'blacklist',
  configSchema: commonOptionsSchema.extend({
    models: patternListSchema,
    reason: z.string().max(500).optional(),
  }).strict(),
  create(config) {
    return {
      async decide(request) {
        const hit = matchesModel(request.model, config.models);
        return hit
          ? { outcome: 'deny', reason: config.reason ?? `model ${request.model} is blocked by "${hit}"` }
          : { outcome: 'continue', reason: `model ${request.model} matches no blacklist pattern` };
      },
    };
  },
});
