import { keyHash } from '../domain/key-request';
import { type Gateway, GatewayAuthError, GatewayUnreachableError } from './types';

export interface GatewaySetup {
  /** What an admin must fix, each naming the setting. */
  problems: string[];
  /** Catalog models the gateway does not serve: shown to approvers, logged at start-up. */
  missingModels: string[];
  /** Nothing answered at all: worth asking again while a just-installed Service starts to route. */
  unreachable?: boolean;
}

/**
 * What can be learnt about the gateway before the first employee finds out: that it answers,
 * that the master key works, which catalog models it does not serve, and whether it is a LiteLLM
 * too old for the loop (before November 2024 an unknown key on /key/info is a 401, which reads as a bad
 * master key and would be retried for ever).
 */
export async function checkGatewaySetup(gateway: Gateway, catalog: readonly string[], timeoutMs = 3000): Promise<GatewaySetup> {
  const signal = AbortSignal.timeout(timeoutMs);
  const problems: string[] = [];
  let served: string[];
  try {
    await gateway.alive(signal);
    served = await gateway.listModels(signal);
  } catch (err) {
    return { problems: [(err as Error).message], missingModels: [], unreachable: err instanceof GatewayUnreachableError };
  }
  try {
    // A key nobody has: a current LiteLLM says 404, an old one 401 although the master key works.
    await gateway.keyInfo(keyHash(`keyportal-probe-${Date.now()}`), signal);
  } catch (err) {
    if (err instanceof GatewayAuthError) {
      problems.push('the gateway answers 401 for an unknown key although the master key works: a LiteLLM release from before November 2024; upgrade it (Keyportal needs one from November 2024 or later)');
    } else problems.push((err as Error).message);
  }
  const servedSet = new Set(served);
  return { problems, missingModels: catalog.filter((m) => !servedSet.has(m)) };
}
