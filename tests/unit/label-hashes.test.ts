import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { pairHash, requesterHash } from '@/lib/domain/key-request';

// The real createHash, counted: the memo must not change a single label value.
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, createHash: vi.fn(real.createHash) };
});
const createHash = vi.mocked(crypto.createHash);
const { createHash: realCreateHash } = await vi.importActual<typeof import('node:crypto')>('node:crypto');
const sha40 = (s: string) => realCreateHash('sha256').update(s).digest('hex').slice(0, 40);

describe('the requester and pair label hashes', () => {
  it('are the first 40 hex digits of the SHA-256 of the normalized address (and model)', () => {
    expect(requesterHash('  Ada.Lovelace@Example.COM ')).toBe(sha40('ada.lovelace@example.com'));
    expect(pairHash('Ada.Lovelace@example.com', 'gpt-4o')).toBe(sha40('ada.lovelace@example.com\ngpt-4o'));
    expect(pairHash('ada.lovelace@example.com', 'GPT-4o')).toBe(sha40('ada.lovelace@example.com\nGPT-4o'));
    expect(requesterHash('ada.lovelace@example.com')).not.toBe(requesterHash('ada.lovelace@example.co'));
  });

  it('hash each address and pair once, however often asked', () => {
    createHash.mockClear();
    for (let i = 0; i < 500; i++) {
      requesterHash(`grace${i % 5}@example.com`);
      pairHash(`grace${i % 5}@example.com`, i % 2 ? 'gpt-4o' : 'claude');
      requesterHash(`GRACE${i % 5}@example.com`);
    }
    // 5 requesters and 10 pairs: 15 hashes, where every call made one (1,500) before.
    expect(createHash).toHaveBeenCalledTimes(15);
  });

  it('stay right past the memo’s bound', () => {
    const many = Array.from({ length: 12_000 }, (_, i) => `p${i}@example.com`);
    for (const e of many) requesterHash(e);
    for (const e of [many[0], many[5_000], many[11_999]] as string[]) expect(requesterHash(e)).toBe(sha40(e));
  });
});
