import { ConfigError } from './config';
import { getRuntime } from './runtime';

export interface Readiness {
  ready: boolean;
  checks: Array<{ name: 'config' | 'store'; ok: boolean; message?: string }>;
}

/** Config loaded and store reachable. Messages name what is wrong; none carries a secret. */
export async function checkReadiness(): Promise<Readiness> {
  let store;
  try {
    store = getRuntime().store;
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : 'configuration could not be loaded';
    return { ready: false, checks: [{ name: 'config', ok: false, message }] };
  }
  const checks: Readiness['checks'] = [{ name: 'config', ok: true }];
  try {
    await store.ping();
    checks.push({ name: 'store', ok: true });
  } catch (err) {
    checks.push({ name: 'store', ok: false, message: err instanceof Error ? err.message : 'store unreachable' });
  }
  return { ready: checks.every((c) => c.ok), checks };
}
