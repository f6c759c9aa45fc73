// Signing in to a portal through its OpenID Connect provider over plain HTTP, the way a browser
// does it: next-auth's sign-in, the provider's login and consent forms, back to the callback.
// For the suites that run the portal as a container or a pod, where no Playwright page is at hand.

/** Cookies per origin, as a browser keeps them (path and expiry do not matter for one sign-in). */
class CookieJar {
  private readonly byOrigin = new Map<string, Map<string, string>>();

  header(url: string): string {
    return [...(this.byOrigin.get(new URL(url).origin) ?? new Map<string, string>())].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  take(url: string, res: Response): void {
    const origin = new URL(url).origin;
    const jar = this.byOrigin.get(origin) ?? new Map<string, string>();
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const at = (pair ?? '').indexOf('=');
      if (at > 0) jar.set((pair as string).slice(0, at), (pair as string).slice(at + 1));
    }
    this.byOrigin.set(origin, jar);
  }

  get(url: string, name: string): string | undefined {
    return this.byOrigin.get(new URL(url).origin)?.get(name);
  }
}

/** The first form of an HTML page: where it posts, and its named inputs with their values. */
function firstForm(html: string, base: string): { action: string; fields: Record<string, string> } | undefined {
  const form = /<form\b[^>]*\baction="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) return undefined;
  const fields: Record<string, string> = {};
  for (const input of (form[2] ?? '').matchAll(/<input\b[^>]*>/gi)) {
    const name = /\bname="([^"]+)"/.exec(input[0])?.[1];
    if (name) fields[name] = /\bvalue="([^"]*)"/.exec(input[0])?.[1] ?? '';
  }
  return { action: new URL((form[1] ?? '').replace(/&amp;/g, '&'), base).toString(), fields };
}

/**
 * Signs in as `login` (an account of trial/oidc.ts, or any email address) and returns the portal's session
 * cookie. Throws, naming the step, when the flow ends anywhere but with a session.
 */
export async function signInWithOidc(portalUrl: string, login: string): Promise<string> {
  const jar = new CookieJar();
  const send = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.header(url) } });
    jar.take(url, res);
    return res;
  };
  const csrf = await send(`${portalUrl}/api/auth/csrf`);
  const { csrfToken } = (await csrf.json()) as { csrfToken: string };
  const start = await send(`${portalUrl}/api/auth/signin/oidc`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrfToken, callbackUrl: portalUrl, json: 'true' }),
  });
  let next = ((await start.json()) as { url?: string }).url;
  if (!next) throw new Error(`the portal did not send the browser to the identity provider (HTTP ${start.status})`);
  let post: URLSearchParams | undefined;
  for (let step = 0; step < 20; step++) {
    const url: string = next;
    const res = await send(url, post ? { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: post } : {});
    post = undefined;
    const session = jar.get(portalUrl, 'next-auth.session-token');
    if (session) return `next-auth.session-token=${session}`;
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      next = new URL(location, url).toString();
      if (next.startsWith(`${portalUrl}/signin`)) throw new Error(`the portal refused the sign-in: ${next}`);
      continue;
    }
    const form = res.status === 200 ? firstForm(await res.text(), url) : undefined;
    if (!form) throw new Error(`the sign-in stopped at ${url} (HTTP ${res.status})`);
    // The provider's login form takes any password; its consent form has no field at all.
    if ('login' in form.fields) Object.assign(form.fields, { login, password: 'any password' });
    post = new URLSearchParams(form.fields);
    next = form.action;
  }
  throw new Error('the sign-in took more than 20 steps');
}
