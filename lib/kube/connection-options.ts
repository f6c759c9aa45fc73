import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * How long the KubeConfig's TLS material is reused before it is read again. client-go reads a
 * kubeconfig's certificates once and a token file at most once a minute; a minute here picks up
 * a rotated CA or client certificate about as soon.
 */
export const TLS_REUSE_MS = 60_000;

type HeaderOptions = { headers?: Record<string, string> };
/** client-node's per-call credential step: private in its typings, a plain method at run time. */
type WithAuthHeader = { applyAuthorizationHeader?: (opts: HeaderOptions) => Promise<void> };

interface Held {
  at: number;
  /** The TLS settings, the kept-alive agent and any static headers (impersonation), no credentials. */
  tls: RequestOptions;
  staticHeaders: Record<string, string>;
}

const held = new WeakMap<KubeConfig, Held>();

/**
 * The options one API call is sent with: TLS and agent, and the credentials of this moment.
 *
 * Why not `applyToHTTPSOptions` on every call, as before: it reads the CA (and client
 * certificate) file again, or decodes them from base64, and the kept-alive agent's lookup then
 * hashes all that material to find its agent (keep-alive.ts): about 1 % of the loop's CPU for
 * settings that change once in months. They are now read once a minute. The credentials are
 * not: a bearer token, a token file rotated by the kubelet, an exec plugin's short-lived token
 * are asked for on every call, exactly as client-node asks for them.
 */
export async function connectionOptions(kc: KubeConfig, now: number = Date.now()): Promise<RequestOptions> {
  const authHeader = (kc as unknown as WithAuthHeader).applyAuthorizationHeader;
  // A client-node without the step (it is private): everything per call, as client-node does.
  if (typeof authHeader !== 'function') {
    const options: RequestOptions = {};
    await kc.applyToHTTPSOptions(options);
    return options;
  }
  let h = held.get(kc);
  if (!h || now - h.at >= TLS_REUSE_MS || now < h.at) {
    const tls: RequestOptions = {};
    await kc.applyToHTTPSOptions(tls);
    // The credentials it wrote are this moment's; they are asked for again below, every call.
    const { Authorization: _credentials, ...staticHeaders } = (tls.headers ?? {}) as Record<string, string>;
    h = { at: now, tls, staticHeaders };
    held.set(kc, h);
  }
  const credentials: HeaderOptions = { headers: {} };
  await authHeader.call(kc, credentials);
  return { ...h.tls, headers: { ...h.staticHeaders, ...credentials.headers } };
}
