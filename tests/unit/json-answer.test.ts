import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { errorResponse, json } from '@/lib/http/respond';
import { badInput } from '@/lib/portal/errors';

// Next's compression gzips any body it cannot measure; these answers tell it which are too small.
describe('a JSON answer', () => {
  it('asks not to be compressed when its body is under 1 KB, and is never stored', async () => {
    const res = json({ status: 'ok' });
    expect(res.headers.get('cache-control')).toBe('no-store, no-transform');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ status: 'ok' });
    // The reason: gzip makes a body this small larger, not smaller.
    expect(gzipSync('{"status":"ok"}').length).toBeGreaterThan('{"status":"ok"}'.length);
  });

  it('leaves a body of 1 KB or more to compression', async () => {
    const requests = Array.from({ length: 40 }, (_, i) => ({ id: `r${i}`, model: 'gpt-4o', state: 'pending' }));
    const res = json({ requests }, 200, { location: '/api/requests' });
    expect(JSON.stringify({ requests }).length).toBeGreaterThanOrEqual(1024);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('location')).toBe('/api/requests');
    expect((await res.json()).requests).toHaveLength(40);
  });

  it("keeps the status, and a caller's headers over its own", async () => {
    const res = json({ error: 'x' }, 429, { 'retry-after': '7', 'cache-control': 'private' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.headers.get('cache-control')).toBe('private');
  });

  it('shapes a typed error the same way', async () => {
    const res = errorResponse(badInput('model', 'required'));
    expect(res.status).toBe(422);
    expect(res.headers.get('cache-control')).toBe('no-store, no-transform');
    expect(await res.json()).toEqual({ error: { code: 'invalid', message: 'model: required', field: 'model' } });
  });
});
