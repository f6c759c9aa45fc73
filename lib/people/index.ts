import path from 'node:path';
import type { RequestStore } from '../store/types';
import { KubernetesPeopleStore } from './kubernetes';
import { LocalPeopleStore } from './local';
import type { PeopleStore } from './types';

/** Facts about people live beside the requests: the same namespace, or a folder beside theirs. */
export function createPeopleStore(store: RequestStore): PeopleStore {
  if (store.cluster) return new KubernetesPeopleStore(store.cluster.kubeConfig, store.cluster.namespace);
  // By shape, not instanceof: Next bundles this module more than once (lib/runtime.ts says why).
  if (store.kind === 'local' && 'dir' in store && typeof store.dir === 'string') return new LocalPeopleStore(path.join(/*turbopackIgnore: true*/ path.dirname(store.dir), 'people'));
  throw new Error(`no people store for a ${store.kind} request store`);
}

export type { OffboardingRecord, PeopleStore } from './types';
