import type { KeyRequest } from '../domain/key-request';
import type { State } from '../domain/states';
import type { Page, PageOptions, RequestStore } from './types';

/** Collects a listing page by page, up to `maxPages` pages of `pageSize` (a bound, so a runaway listing cannot hold a caller). */
export async function collect(list: (page: PageOptions) => Promise<Page>, { pageSize = 250, maxPages = 40 } = {}): Promise<KeyRequest[]> {
  const out: KeyRequest[] = [];
  let token: string | undefined;
  for (let i = 0; i < maxPages; i++) {
    const page = await list({ limit: pageSize, ...(token ? { continue: token } : {}) });
    out.push(...page.items);
    token = page.continue;
    if (!token) break;
  }
  return out;
}

/** Every request in a state, page by page from the store's index, up to `maxPages` pages (a bound, so a runaway listing cannot hold a periodic task). */
export async function* eachInState(store: Pick<RequestStore, 'listByState'>, state: State, { pageSize = 500, maxPages = 10_000 } = {}): AsyncGenerator<KeyRequest> {
  let token: string | undefined;
  for (let i = 0; i < maxPages; i++) {
    const page = await store.listByState(state, { limit: pageSize, ...(token ? { continue: token } : {}) });
    yield* page.items;
    token = page.continue;
    if (!token) return;
  }
}
