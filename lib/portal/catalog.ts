import { DEFAULT_POLICY, describePolicy, policyFor } from '../approval/policy';
import type { Config } from '../config';

export interface CatalogModel {
  id: string;
  title: string;
  description: string;
  icon?: string;
  featured: boolean;
  docsUrl?: string;
  /** The model's policy asks the requester why: at least this many characters. */
  justification?: { minLength: number };
  /** Who approves it, when its policy is not the default ("1 from the manager, then 2 from the platform team"). */
  approval?: string;
}

/** The catalog as users see it: featured models first, then by title. Limits stay server-side. */
export function catalog(config: Pick<Config, 'models' | 'approvals'>): CatalogModel[] {
  return [...config.models]
    .sort((a, b) => Number(b.featured) - Number(a.featured) || a.title.localeCompare(b.title))
    .map((m) => {
      const { id, title, description, icon, featured, docsUrl } = m;
      const policy = policyFor(config.approvals, m, id);
      return {
        id,
        title,
        description,
        featured,
        ...(icon ? { icon } : {}),
        ...(docsUrl ? { docsUrl } : {}),
        ...(policy.justification.required ? { justification: { minLength: policy.justification.minLength } } : {}),
        ...(policy.name !== DEFAULT_POLICY ? { approval: describePolicy(policy) } : {}),
      };
    });
}
