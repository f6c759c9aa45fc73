import micromatch from 'micromatch';
import { z } from 'zod';

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

/** Email patterns are case-insensitive, like the addresses they match. */
export function matchesEmail(email: string, patterns: readonly string[]): string | undefined {
  return patterns.find((p) => micromatch.isMatch(email, p, { nocase: true, dot: true }));
}
