import micromatch from 'micromatch';
import { z } from 'zod';
import { emailSchema, normalizeEmail } from '../domain/key-request';

/**
 * Glob patterns on model ids: `*` stays within one `/` segment (so `anthropic/*` matches
 * `anthropic/claude-3`, not `anthropic/x/y`), `**` crosses segments, `?` and braces work.
 */
export const patternListSchema = z
  .array(z.string().min(1, 'a pattern cannot be empty'), { error: 'expected an array of strings' })
  .min(1, 'expected at least one pattern');

export function matchesModel(model: string, patterns: readonly string[]): string | undefined {
  return patterns.find((p) => micromatch.isMatch(model, p, { dot: true }));
}

/**
 * The one email matcher (plugins and approver lists): case-insensitive, like the addresses it
 * matches, and only for a well-formed address. A glob's `*` crosses `@`, so without that check
 * `x@evil.com@platform.example.com` would match `*@platform.example.com`.
 */
export function matchesEmail(email: string, patterns: readonly string[]): string | undefined {
  const normalized = normalizeEmail(email);
  if (!emailSchema.safeParse(normalized).success) return undefined;
  return patterns.find((p) => micromatch.isMatch(normalized, p, { nocase: true, dot: true }));
}
