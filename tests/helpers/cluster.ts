import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ApiException, CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { type AuditRecord, parseRecords } from '@/lib/audit/record';

const run = promisify(execFile);

/** The admin kubeconfig of the run's test cluster. */
export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(inject('kubeconfig'));
  return kc;
}

export function kubeconfigPath(): string {
  return inject('kubeconfig');
}

/** Runs the real kubectl built for the test cluster, as admin. Resolves with stdout. */
export async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run(`${inject('clusterBin')}/kubectl`, ['--kubeconfig', inject('kubeconfig'), ...args], {
    timeout: 30_000,
  });
  return stdout;
}

/** A fresh namespace for one test, so tests never see each other's objects or depend on order. */
export async function freshNamespace(prefix = 'kp'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await adminKubeConfig().makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  // Namespaces are not deleted: with no controller-manager they would never finish
  // terminating. The whole cluster's data goes away at cluster:down.
  return name;
}

/** A KubeConfig for the test cluster that authenticates with `token` alone (e.g. a ServiceAccount's). */
export function kubeConfigForToken(token: string, user = 'token-user'): KubeConfig {
  const cluster = adminKubeConfig().getCurrentCluster();
  if (!cluster) throw new Error('admin kubeconfig has no cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: cluster.name, user }],
    currentContext: user,
  });
  return kc;
}

/** The HTTP status an API call ends with: 200 if it succeeds, the ApiException's code if not. */
export async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

/** A request's state as its Secret's label says, read by the admin. */
export async function requestState(requestsNs: string, id: string): Promise<string> {
  const secret = await adminKubeConfig().makeApiClient(CoreV1Api).readNamespacedSecret({ name: `keyreq-${id}`, namespace: requestsNs });
  return secret.metadata?.labels?.['keyportal.dev/state'] ?? '';
}

/** Who holds the approval loop's Lease ('' once handed back). */
export async function loopLeaseHolder(requestsNs: string): Promise<string> {
  const lease = await adminKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'keyportal-loop', namespace: requestsNs });
  return lease.spec?.holderIdentity ?? '';
}

/** The audit records a request's Secret holds on the API server (a cache may have let go of covered ones). */
export async function recordsInSecret(namespace: string, id: string): Promise<AuditRecord[]> {
  const secret = await adminKubeConfig().makeApiClient(CoreV1Api).readNamespacedSecret({ namespace, name: `keyreq-${id}` });
  return parseRecords(secret.metadata?.annotations?.['keyportal.dev/audit']);
}
