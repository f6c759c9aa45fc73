/**
 * The most request ids one usage batch may name (GET /api/requests/usage): the issued keys on
 * one page of "My requests". A file of its own so the browser's bundle can read it without the
 * server-only modules (node:crypto) that the validation schemas pull in.
 */
export const MAX_USAGE_BATCH = 100;
