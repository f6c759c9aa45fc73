import micromatch from 'micromatch';
import type { Config } from '../config';
import { normalizeEmail } from '../domain/key-request';

/** Who is signed in, as every page and handler sees it. */
export interface User {
  email: string;
  name?: string;
  groups: string[];
  approver: boolean;
}

/** Approvers are named in config by email glob (`*@platform.example.com`) and/or OIDC group. */
export function isApprover(approvers: Config['approvals']['approvers'], email: string, groups: readonly string[]): boolean {
  const normalized = normalizeEmail(email);
  if (approvers.emails.some((glob) => micromatch.isMatch(normalized, glob, { nocase: true }))) return true;
  return groups.some((g) => approvers.groups.includes(g));
}
