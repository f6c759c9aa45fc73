import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { StoreConfig } from '../config/schema';
import { KubernetesSecretStore } from './kubernetes';
import { LocalDirectoryStore } from './local';
import type { RequestStore } from './types';

const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The namespace the portal runs in, when it runs in a cluster. */
function currentNamespace(): string {
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}

export function createStore(config: StoreConfig): RequestStore {
  if (config.type === 'kubernetes') {
    return new KubernetesSecretStore({ namespace: config.namespace ?? currentNamespace(), kubeconfigPath: config.kubeconfig });
  }
  return new LocalDirectoryStore(path.resolve(/*turbopackIgnore: true*/ config.dir));
}

export type { RequestStore } from './types';
