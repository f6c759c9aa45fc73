import { createGateway } from '../gateway';
import { UsageCache } from '../gateway/usage-cache';
import { instrumentGateway } from '../metrics/instrument';
import { getRuntime } from '../runtime';
import type { UsageDeps } from '../portal/usage';
import { signedIn } from './context';

/**
 * The process's one usage cache. On globalThis for the reason lib/runtime.ts gives: Next builds
 * each route and page into its own bundle, and a module-level cache would be one per bundle, so
 * the status page and the list would each ask the gateway.
 */
const USAGE = Symbol.for('keyportal.usage-cache');
const shared = globalThis as typeof globalThis & { [USAGE]?: UsageCache };

export function usageCache(): UsageCache {
  if (!shared[USAGE]) {
    // Its own client of the same gateway: counted in the gateway metrics like every other call.
    shared[USAGE] = new UsageCache(instrumentGateway(createGateway(getRuntime().config)));
  }
  return shared[USAGE];
}

export async function signedInWithUsage(): Promise<{ deps: UsageDeps; user: Awaited<ReturnType<typeof signedIn>>['user'] }> {
  const { deps, user } = await signedIn();
  return { deps: { ...deps, usage: usageCache() }, user };
}
