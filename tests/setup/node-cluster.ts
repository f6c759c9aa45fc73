import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The pod bridge's gateway: this machine's own address on the pods' side. */
    nodeGatewayIp: string;
    /** The state directory of the cluster with the node (import-image.sh reads it). */
    nodeClusterDir: string;
  }
}

const repo = path.resolve(import.meta.dirname, '../..');
// A cluster of its own, apart from the plain one the integration suite uses (.cluster), so the
// two never stop each other; one node per machine (kube-proxy's nftables tables have fixed names).
const stateDir = path.resolve(process.env.KEYPORTAL_NODE_CLUSTER_DIR ?? path.join(repo, '.cluster-node'));

/**
 * Brings the test cluster up with a real node (tests/cluster/node-up.sh): containerd, kubelet,
 * controller-manager, scheduler and kube-proxy. One someone started with
 * `KEYPORTAL_CLUSTER_DIR=.cluster-node npm run cluster:up -- --with-node` is reused and left running;
 * one started here is removed here, node and all, and down.sh checks nothing is left.
 */
export default function setup(project: TestProject) {
  const env = { ...process.env, KEYPORTAL_CLUSTER_DIR: stateDir };
  const startedHere = !existsSync(path.join(stateDir, 'kubeconfig'));
  const out = execFileSync('bash', [path.join(repo, 'tests/cluster/up.sh'), '--with-node'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    env,
  });
  const kubeconfig = out.trim().split('\n').pop() ?? '';
  if (!existsSync(kubeconfig)) throw new Error(`cluster:up --with-node printed no kubeconfig path (got "${kubeconfig}")`);
  project.provide('kubeconfig', kubeconfig);
  project.provide('clusterBin', readFileSync(path.join(stateDir, 'bin'), 'utf8').trim());
  project.provide('nodeGatewayIp', readFileSync(path.join(stateDir, 'node/gateway-ip'), 'utf8').trim());
  project.provide('nodeClusterDir', stateDir);
  return () => {
    if (startedHere) execFileSync('bash', [path.join(repo, 'tests/cluster/down.sh')], { stdio: 'inherit', env });
  };
}
