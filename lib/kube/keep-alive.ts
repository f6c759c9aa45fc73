import { createHash } from 'node:crypto';
import type { Agent } from 'node:http';
import { type KubeConfig, ServerConfiguration, createConfiguration, wrapHttpLibrary } from '@kubernetes/client-node';
import { nodeHttpLibrary } from './http-library';

type CreateAgent = (cluster: unknown, options: Record<string, unknown>) => Agent;
type ApiClass<T> = new (config: ReturnType<typeof createConfiguration>) => T;
const PATCHED = Symbol.for('keyportal.keepAlive');

/** What makes two agents interchangeable: the TLS material and verification settings. */
function fingerprint(cluster: unknown, options: Record<string, unknown>): string {
  const h = createHash('sha256');
  const server = (cluster as { server?: string; proxyUrl?: string } | null) ?? {};
  h.update(`${server.server ?? ''}\n${server.proxyUrl ?? ''}\n`);
  for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername']) {
    const v = options[k];
    h.update(`${k}=${v === undefined ? '' : Buffer.isBuffer(v) ? v.toString('base64') : String(v)}\n`);
  }
  return h.digest('hex');
}

/**
 * @kubernetes/client-node 1.4 builds a new https.Agent for every API call
 * (`applySecurityAuthentication` → `createAgent`, kubernetes-client/javascript#2893), so every
 * call pays a TCP and TLS handshake: ×5 the latency of a reused connection. This makes a
 * KubeConfig hand out one kept-alive agent per set of TLS settings instead. Credentials that
 * travel as headers (tokens, a rotated ServiceAccount token) are still read per call; rotated
 * client certificates give a new fingerprint and so a new agent.
 *
 * `createAgent` is private in the typings but a plain method at run time; the patch is on the
 * instance, so no other KubeConfig is touched. Idempotent. The API clients it makes also skip
 * client-node's node-fetch, which misreads kept-alive responses (http-library.ts).
 */
export function withKeepAlive(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createAgent: CreateAgent; [PATCHED]?: true };
  if (target[PATCHED]) return kc;
  const original = target.createAgent.bind(kc);
  const agents = new Map<string, Agent>();
  target.createAgent = (cluster, options) => {
    const key = fingerprint(cluster, options);
    let agent = agents.get(key);
    if (!agent) {
      // Up to 64 idle connections kept: a burst has 50 employees' creates, the loop's workers and
      // the Event writers in flight at once, and with 16 kept each burst closed the rest and
      // opened them again (a TLS handshake and a new SecureContext each: 820 in one bench run).
      agent = original(cluster, { ...options, keepAlive: true, keepAliveMsecs: 30_000, maxFreeSockets: 64, scheduling: 'lifo' });
      agents.set(key, agent);
    }
    return agent;
  };
  // Every API client this KubeConfig makes sends through node:http(s) (see http-library.ts).
  kc.makeApiClient = <T>(api: ApiClass<T>): T => {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig names no current cluster');
    return new api(createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: kc }, httpApi: wrapHttpLibrary(nodeHttpLibrary) }));
  };
  target[PATCHED] = true;
  return kc;
}
