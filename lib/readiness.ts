import { ConfigError } from './config';
import { getRuntime } from './runtime';
import { isShuttingDown } from './shutdown';

export interface Readiness {
  ready: boolean;
  checks: Array<{ name: 'config' | 'store' | 'gateway' | 'shutdown'; ok: boolean; message?: string }>;
}

/**
 * Config loaded and the store's cache synced: what readiness hangs on. The gateway is checked
 * too (liveness, master key, catalog, version; cached 30 s) and reported, but does not take the
 * portal out of its Service: employees can still request and follow their requests while the
 * loop waits for the gateway, and the metrics alert on it. Messages carry no secret.
 */
export async function checkReadiness(): Promise<Readiness> {
  // A pod told to stop leaves its Service before it goes.
  if (isShuttingDown()) return { ready: false, checks: [{ name: 'shutdown', ok: false, message: 'stopping' }] };
  let runtime;
  try {
    runtime = getRuntime();
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : 'configuration could not be loaded';
    return { ready: false, checks: [{ name: 'config', ok: false, message }] };
  }
  const checks: Readiness['checks'] = [{ name: 'config', ok: true }];
  try {
    await runtime.store.ping();
    checks.push({ name: 'store', ok: true });
  } catch (err) {
    checks.push({ name: 'store', ok: false, message: err instanceof Error ? err.message : 'store unreachable' });
  }
  const ready = checks.every((c) => c.ok);
  const gateway = await runtime.gatewayStatus.current();
  const notes = [...gateway.problems, ...(gateway.missingModels.length ? [`the gateway does not serve catalog models: ${gateway.missingModels.join(', ')}`] : [])];
  checks.push(notes.length ? { name: 'gateway', ok: false, message: notes.join('; ') } : { name: 'gateway', ok: true });
  return { ready, checks };
}
