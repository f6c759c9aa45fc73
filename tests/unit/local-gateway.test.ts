import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalGateway } from '@/lib/gateway/local';
import { GatewayUnavailableError } from '@/lib/gateway/types';

describe('the local gateway stand-in', () => {
  it('reports a corrupt keys.json as a named, retryable gateway error and leaves the file alone', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kp-gw-'));
    writeFileSync(path.join(dir, 'keys.json'), '{"truncated":');
    const gateway = new LocalGateway(dir, ['gpt-4o']);
    const err = await gateway.keyInfo('0'.repeat(64)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayUnavailableError);
    expect((err as Error).message).toBe(`local gateway file ${path.join(dir, 'keys.json')} is not valid JSON; fix or remove it`);
  });
});
