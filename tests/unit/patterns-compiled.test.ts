import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { matchesEmail, matchesModel } from '@/lib/approval/patterns';

// micromatch's own picomatch, whose makeRe turns a glob into a regular expression.
const fromMicromatch = createRequire(createRequire(import.meta.url).resolve('micromatch'));
const picomatch = fromMicromatch('picomatch') as { makeRe: (glob: string, options?: object) => RegExp };

afterEach(() => vi.restoreAllMocks());

describe('patterns from config', () => {
  it('are compiled once, not again for every request and every signed-in call', () => {
    const compile = vi.spyOn(picomatch, 'makeRe');
    for (let i = 0; i < 200; i++) {
      expect(matchesModel(`anthropic/claude-${i}`, ['openai/*', 'anthropic/*'])).toBe('anthropic/*');
      expect(matchesEmail(`Person${i}@Platform.Example.com`, ['*@platform.example.com'])).toBe('*@platform.example.com');
    }
    // The first calls of this file compile three patterns (another file's may have compiled them already).
    expect(compile.mock.calls.length).toBeLessThanOrEqual(3);
  });

  it('match as they did: a case-sensitive model glob, a case-insensitive address, a dot in a name', () => {
    expect(matchesModel('GPT-4O', ['gpt-4o'])).toBeUndefined();
    expect(matchesModel('anthropic/x/y', ['anthropic/*'])).toBeUndefined();
    expect(matchesModel('anthropic/x/y', ['anthropic/**'])).toBe('anthropic/**');
    expect(matchesModel('.hidden/model', ['*/model'])).toBe('*/model');
    // The same text as a model pattern and as an address pattern: two matchers, not one shared.
    expect(matchesModel('ADA@X.COM', ['ada@x.com'])).toBeUndefined();
    expect(matchesEmail('ADA@X.COM', ['ada@x.com'])).toBe('ada@x.com');
    expect(matchesEmail('x@evil.com@platform.example.com', ['*@platform.example.com'])).toBeUndefined();
  });
});
