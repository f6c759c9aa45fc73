/**
 * What the portal tells a caller when it will not do what was asked. Each carries the HTTP status
 * it maps to, a stable code, and a message a person can act on; `field` names the bad input.
 */
export class PortalError extends Error {
  override readonly name: string = 'PortalError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { field?: string; retryAfterSeconds?: number; request?: unknown } = {},
  ) {
    super(message);
  }
}

export const badInput = (field: string, message: string): PortalError => new PortalError(422, 'invalid', `${field}: ${message}`, { field });
/** Well-formed, but more than the policy allows (approve with changes above the tier): 400 naming the field. */
export const beyondPolicy = (field: string, message: string): PortalError => new PortalError(400, 'beyond_policy', `${field}: ${message}`, { field });
export const badRequest = (message: string): PortalError => new PortalError(400, 'bad_request', message);
export const notSignedIn = (): PortalError => new PortalError(401, 'unauthenticated', 'sign in first');
export const approversOnly = (): PortalError => new PortalError(403, 'forbidden', 'only approvers may do this');
/** The same answer whether the request does not exist or belongs to someone else: ids never leak. */
export const requestNotFound = (id: string): PortalError => new PortalError(404, 'not_found', `no key request with id ${id}`);
/** Ended long ago and deleted by the retention sweep: gone from the store, kept in the audit trail. */
export const archivedError = (e: { id: string; state: string; endedAt: string; deletedAt: string }): PortalError =>
  new PortalError(410, 'archived', `request ${e.id} ended (${e.state}) on ${e.endedAt.slice(0, 10)} and was archived on ${e.deletedAt.slice(0, 10)}: requests that ended are kept for store.retention.endedDays, and its history stays in the audit trail`, { request: { id: e.id, state: e.state, endedAt: e.endedAt, archivedAt: e.deletedAt } });
export const conflict = (message: string, request?: unknown): PortalError => new PortalError(409, 'conflict', message, { request });
/** A paging cursor this listing did not hand out (tampered, or from other filters or an older version). */
export const badCursor = (): PortalError =>
  new PortalError(400, 'invalid_cursor', 'cursor: not one this listing handed out (or the filters changed since); start again from the first page, without a cursor', {
    field: 'cursor',
  });
/** Someone offboarded (and not let back in): nothing new for them, whatever their session says. */
export const offboardedError = (at: string): PortalError =>
  new PortalError(403, 'offboarded', `your access to keys was withdrawn on ${at.slice(0, 10)}; if that is a mistake, ask an approver to let you back in`);
