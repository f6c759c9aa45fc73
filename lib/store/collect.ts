import type { KeyRequest } from '../domain/key-request';
import type { Page, PageOptions } from './types';

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
