import { createHash } from 'node:crypto';
import type { Agent } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';

type CreateAgent = (cluster: unknown, options: Record<string, unknown>) => Agent;
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
 * instance, so no other KubeConfig is touched. Idempotent.
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
      agent = original(cluster, { ...options, keepAlive: true, keepAliveMsecs: 30_000, maxFreeSockets: 16, scheduling: 'lifo' });
      agents.set(key, agent);
    }
    return agent;
  };
  target[PATCHED] = true;
  return kc;
}
