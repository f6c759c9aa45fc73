import { getRuntime } from '../runtime';
import type { UsageDeps } from '../portal/usage';
import { signedIn } from './context';

export async function signedInWithUsage(): Promise<{ deps: UsageDeps; user: Awaited<ReturnType<typeof signedIn>>['user'] }> {
  const { deps, user } = await signedIn();
  return { deps: { ...deps, usage: getRuntime().usage }, user };
}
