import type { Config } from '../config';

export interface CatalogModel {
  id: string;
  title: string;
  description: string;
  icon?: string;
  featured: boolean;
  docsUrl?: string;
}

/** The catalog as users see it: featured models first, then by title. Limits stay server-side. */
export function catalog(config: Pick<Config, 'models'>): CatalogModel[] {
  return [...config.models]
    .sort((a, b) => Number(b.featured) - Number(a.featured) || a.title.localeCompare(b.title))
    .map(({ id, title, description, icon, featured, docsUrl }) => ({ id, title, description, featured, ...(icon ? { icon } : {}), ...(docsUrl ? { docsUrl } : {}) }));
}
