import { signInWithOidc } from './oidc-client';

// An employee's client against a running portal over HTTP, as a browser signs in and asks: for
// the suites that run the portal as a container or a pod, where no Playwright page is at hand.
// Pods sign in through their identity provider (the development sign-in is refused in a pod).

/** Signs in through the portal's OIDC provider as `login`; returns the session cookie. */
export const signIn = (url: string, login: string): Promise<string> => signInWithOidc(url, login);

/** POST /api/requests as a signed-in employee; resolves with the HTTP status and the new request's id. */
export async function postRequest(url: string, cookie: string, model: string): Promise<{ status: number; id?: string }> {
  const res = await fetch(`${url}/api/requests`, { method: 'POST', headers: { cookie, origin: url, 'content-type': 'application/json' }, body: JSON.stringify({ model }) });
  const body = (await res.json().catch(() => ({}))) as { request?: { id?: string } };
  return { status: res.status, id: body.request?.id };
}

/** Signs in and requests a key; throws unless the portal answered 201. */
export async function requestKey(url: string, login: string, model: string): Promise<string> {
  const { status, id } = await postRequest(url, await signIn(url, login), model);
  if (status !== 201 || !id) throw new Error(`POST /api/requests as ${login} for ${model} answered ${status}`);
  return id;
}
