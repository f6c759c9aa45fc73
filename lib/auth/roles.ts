import type { Config } from '../config';
import { matchesEmail } from '../approval/patterns';

/** Who is signed in, as every page and handler sees it. */
export interface User {
  email: string;
  name?: string;
  groups: string[];
  approver: boolean;
  /** The groups from sign-in are past auth.oidc.groupsMaxAgeSeconds: signing in again restores them. */
  groupsExpired?: boolean;
  /** Their manager, from the identity provider (auth.oidc.managerClaim). */
  manager?: string;
}

/** Approvers are named in config by email glob (`*@platform.example.com`) and/or OIDC group. */
export function isApprover(approvers: Config['approvals']['approvers'], email: string, groups: readonly string[]): boolean {
  if (matchesEmail(email, approvers.emails)) return true;
  return groups.some((g) => approvers.groups.includes(g));
}
