import micromatch from 'micromatch';
import { z } from 'zod';
import { boundedMemo } from '../domain/bounded-memo';
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
/** Patterns come from config: a few dozen. The bound only keeps an odd caller from growing it without end. */
const MATCHERS_KEPT = 1_000;

/**
 * `micromatch.isMatch` compiles its pattern into a regular expression on every call; every plugin
 * of every request, and the approver check of every signed-in call, asked again. Compiled once,
 * keyed by the mode (`i` case-insensitive, `s` not) and the pattern.
 */
const matcherOf = boundedMemo<Matcher>(MATCHERS_KEPT, (key) => micromatch.matcher(key.slice(1), key.startsWith('i') ? { nocase: true, dot: true } : { dot: true }));

function compiled(pattern: string, nocase: boolean): Matcher {
  return matcherOf(`${nocase ? 'i' : 's'}${pattern}`);
}
