import type { z } from 'zod';

/** `approvals.plugins[0].config.models`: the path of a value, as a person reads config and JSON. */
export function formatPath(segments: readonly PropertyKey[], root = '(top level)'): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : `${out ? '.' : ''}${String(s)}`;
  return out || root;
}

/** What is wrong with one value, in words: zod's message, or the unknown fields it found. */
export function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.message;
}

/**
 * Every boundary's one way to name a zod failure: `path: message` per issue, paths relative to
 * `prefix` (e.g. a plugin entry's place in config.yaml), or `root` when the whole value is wrong.
 */
export function describeIssues(error: z.ZodError, options: { prefix?: readonly PropertyKey[]; root?: string } = {}): Array<{ path: string; message: string }> {
  return error.issues.map((issue) => ({ path: formatPath([...(options.prefix ?? []), ...issue.path], options.root), message: issueMessage(issue) }));
}
