'use client';

/** A JSON call from a portal page; the error message is the server's own, which names the problem. */
export async function postJson<T>(url: string, body?: unknown, method: 'POST' | 'PUT' | 'DELETE' = 'POST'): Promise<{ ok: true; data: T } | { ok: false; status: number; message: string; data?: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
  } catch {
    return { ok: false, status: 0, message: 'The portal cannot be reached. Check your connection and try again.' };
  }
  const json: unknown = await res.json().catch(() => undefined);
  if (res.ok) return { ok: true, data: json as T };
  const message = (json as { error?: { message?: string } } | undefined)?.error?.message ?? `The server answered ${res.status}.`;
  return { ok: false, status: res.status, message, data: json };
}

/** What a read that failed says, in the server's own words when it gave them (the live-update hooks show it). */
export async function readFailure(res: Response): Promise<Error> {
  const message = ((await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined)?.error?.message;
  return new Error(message ? `the server answered ${res.status}: ${message}` : `the server answered ${res.status}`);
}
