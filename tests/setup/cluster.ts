import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    clusterBin: string;
  }
}

const repo = path.resolve(import.meta.dirname, '../..');
const stateDir = process.env.KEYPORTAL_CLUSTER_DIR ?? path.join(repo, '.cluster');

/**
 * Brings the real test cluster up once per run (building its binaries on first use) and hands
 * the tests its kubeconfig. A cluster someone started with `npm run cluster:up` is reused and
 * left running; one started here is stopped here.
 */
export default function setup(project: TestProject) {
  const startedHere = !existsSync(path.join(stateDir, 'kubeconfig'));
  const out = execFileSync('bash', [path.join(repo, 'tests/cluster/up.sh')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const kubeconfig = out.trim().split('\n').pop() ?? '';
  if (!existsSync(kubeconfig)) throw new Error(`cluster:up printed no kubeconfig path (got "${kubeconfig}")`);
  project.provide('kubeconfig', kubeconfig);
  project.provide('clusterBin', readFileSync(path.join(stateDir, 'bin'), 'utf8').trim());
  return () => {
    if (startedHere) execFileSync('bash', [path.join(repo, 'tests/cluster/down.sh')], { stdio: 'inherit' });
  };
}
