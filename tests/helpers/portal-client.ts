// An employee's client against a running portal over HTTP, as a browser signs in and asks: for
// the suites that run the portal as a container or a pod, where no Playwright page is at hand.

/** Signs in the way a browser does with the development provider; returns the session cookie. */
export async function signIn(url: string, email: string): Promise<string> {
  const csrf = await fetch(`${url}/api/auth/csrf`);
  const { csrfToken } = (await csrf.json()) as { csrfToken: string };
  const jar = csrf.headers.getSetCookie().map((c) => c.split(';')[0]);
  const res = await fetch(`${url}/api/auth/callback/dev`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.join('; ') },
    body: new URLSearchParams({ csrfToken, email, callbackUrl: url, json: 'true' }),
  });
  const session = res.headers.getSetCookie().map((c) => c.split(';')[0] ?? '').find((c) => c.startsWith('next-auth.session-token='));
  if (!session) throw new Error(`sign-in as ${email} gave no session (HTTP ${res.status})`);
  return session;
}

/** POST /api/requests as a signed-in employee; resolves with the HTTP status and the new request's id. */
export async function postRequest(url: string, cookie: string, model: string): Promise<{ status: number; id?: string }> {
  const res = await fetch(`${url}/api/requests`, { method: 'POST', headers: { cookie, origin: url, 'content-type': 'application/json' }, body: JSON.stringify({ model }) });
  const body = (await res.json().catch(() => ({}))) as { request?: { id?: string } };
  return { status: res.status, id: body.request?.id };
}

/** Signs in and requests a key; throws unless the portal answered 201. */
export async function requestKey(url: string, email: string, model: string): Promise<string> {
  const { status, id } = await postRequest(url, await signIn(url, email), model);
  if (status !== 201 || !id) throw new Error(`POST /api/requests as ${email} for ${model} answered ${status}`);
  return id;
}
