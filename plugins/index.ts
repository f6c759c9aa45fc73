import type { z } from 'zod';
import type { ApprovalPlugin, PluginDefinition, PluginEntry, PluginEnv } from '@/lib/approval/types';
import { issueMessage } from '@/lib/validations/issues';
import blacklist from './blacklist';
import email from './email';
import http from './http';
import spend from './spend';
import whitelist from './whitelist';

type AnyDefinition = PluginDefinition<z.ZodType>;

/** Every built-in plugin by the name config.yaml uses. */
export const PLUGINS: Readonly<Record<string, AnyDefinition>> = {
  http: http as unknown as AnyDefinition,
  blacklist: blacklist as unknown as AnyDefinition,
  whitelist: whitelist as unknown as AnyDefinition,
  email: email as unknown as AnyDefinition,
  spend: spend as unknown as AnyDefinition,
};

/** Config-load check of one `approvals.plugins[]` entry: paths relative to the entry. */
export function checkPluginEntry(name: string, config: Record<string, unknown>): Array<{ path: PropertyKey[]; message: string }> {
  const definition = PLUGINS[name];
  if (!definition) {
    return [{ path: ['name'], message: `unknown plugin "${name}"; built in: ${Object.keys(PLUGINS).join(', ')}` }];
  }
  const parsed = definition.configSchema.safeParse(config);
  if (parsed.success) return [];
  return parsed.error.issues.map((i) => ({ path: ['config', ...i.path], message: issueMessage(i) }));
}

/** Builds the chain in config order. Throws naming the entry if a plugin cannot be made. */
export function buildPlugins(entries: readonly PluginEntry[], env: PluginEnv): ApprovalPlugin[] {
  return entries.map((entry, i) => {
    const definition = PLUGINS[entry.name];
    if (!definition) throw new Error(`approvals.plugins[${i}].name: unknown plugin "${entry.name}"`);
    const config = definition.configSchema.parse(entry.config) as { onError: ApprovalPlugin['onError']; timeoutMs: number };
    try {
      return { name: entry.name, onError: config.onError, timeoutMs: config.timeoutMs, ...definition.create(config, env) };
    } catch (err) {
      throw new Error(`approvals.plugins[${i}]: ${(err as Error).message}`);
    }
  });
}
