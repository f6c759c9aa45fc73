import { createHash } from 'node:crypto';
import type { Agent } from 'node:http';
import { type KubeConfig, ServerConfiguration, createConfiguration, wrapHttpLibrary } from '@kubernetes/client-node';
import { nodeHttpLibrary } from './http-library';

type CreateAgent = (cluster: unknown, options: Record<string, unknown>) => Agent;
type ApiClass<T> = new (config: ReturnType<typeof createConfiguration>) => T;
const PATCHED = Symbol.for('keyportal.keepAlive');
/** Connections to the API server one KubeConfig holds (per set of TLS settings). */
const MAX_CONNECTIONS = 64;
/**
 * How long an idle connection is kept before the portal closes it itself. kube-apiserver closes
 * an HTTP/1.1 connection idle for 90 s (`IdleTimeout`, k8s.io/apiserver secure_serving.go) and
 * sends no Keep-Alive hint; a call sent on such a connection at the moment it is closed dies
 * with it ("socket hang up"), and a POST cannot be safely sent again. Closing first, with a
 * margin, leaves the race to nobody. Cloud balancers in front of an API server hold longer
 * (Azure 4 min, AWS NLB 350 s), so the same limit covers them.
 */
export const IDLE_CONNECTION_MS = 60_000;

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
 * instance, so no other KubeConfig is touched. Idempotent (a second call's `idleMs` is not
 * applied). The API clients it makes also skip client-node's node-fetch, which misreads kept-alive
 * responses (http-library.ts). `idleMs` is for tests; the portal keeps IDLE_CONNECTION_MS.
 */
export function withKeepAlive(kc: KubeConfig, idleMs: number = IDLE_CONNECTION_MS): KubeConfig {
  const target = kc as unknown as { createAgent: CreateAgent; [PATCHED]?: true };
  if (target[PATCHED]) return kc;
  const original = target.createAgent.bind(kc);
  const agents = new Map<string, Agent>();
  target.createAgent = (cluster, options) => {
    const key = fingerprint(cluster, options);
    let agent = agents.get(key);
    if (!agent) {
      // At most 64 connections, all of them kept: a burst has 50 employees' creates, the loop's 32
      // workers, the Event writers and the audit shipper in flight at once. With no cap (Node's
      // default) and 64 kept, every call past the 64th opened a connection that was closed again
      // on release: 1,268 TLS handshakes for 1,500 requests in one probe run, the largest single
      // cost in the portal's profile (writev doing the handshake's crypto, new SecureContexts) and
      // as much again in the API server. A call past the cap waits for a free connection instead:
      // the API server, not the connection count, is what limits a burst.
      // `timeout` is Node's idle limit for a connection in the pool (Agent#keepSocketAlive); on a
      // connection in use it only raises 'timeout', which no call here takes as an error.
      agent = original(cluster, { ...options, keepAlive: true, keepAliveMsecs: 30_000, maxSockets: MAX_CONNECTIONS, maxFreeSockets: MAX_CONNECTIONS, scheduling: 'lifo', timeout: idleMs });
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
