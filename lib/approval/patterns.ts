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
  return patterns.find((p) => compiled(p, false)(model));
}

/**
 * The one email matcher (plugins and approver lists): case-insensitive, like the addresses it
 * matches, and only for a well-formed address. A glob's `*` crosses `@`, so without that check
 * `x@evil.com@platform.example.com` would match `*@platform.example.com`.
 */
export function matchesEmail(email: string, patterns: readonly string[]): string | undefined {
  const normalized = normalizeEmail(email);
  if (!emailSchema.safeParse(normalized).success) return undefined;
  return patterns.find((p) => compiled(p, true)(normalized));
}

type Matcher = (subject: string) => boolean;
const matchers = new Map<string, Matcher>();
/** Patterns come from config: a few dozen. The bound only keeps an odd caller from growing it without end. */
const MATCHERS_KEPT = 1_000;

/**
 * `micromatch.isMatch` compiles its pattern into a regular expression on every call; every plugin
 * of every request, and the approver check of every signed-in call, asked again. Compiled once.
 */
function compiled(pattern: string, nocase: boolean): Matcher {
  const key = `${nocase ? 'i' : 's'}${pattern}`;
  let match = matchers.get(key);
  if (!match) {
    if (matchers.size >= MATCHERS_KEPT) matchers.clear();
    match = micromatch.matcher(pattern, nocase ? { nocase: true, dot: true } : { dot: true });
    matchers.set(key, match);
  }
  return match;
}
