import { KubeConfig } from '@kubernetes/client-node';
import { encodeNewRequest, type SecretObject } from '@/lib/store/secret-codec';

/** A KubeConfig for a fake API server on loopback (plain HTTP, any token). */
export function fakeKubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

/** A new request's Secret as the API server would hold it at version `rv`. */
export function requestSecretAt(id: string, email: string, rv: number): SecretObject {
  const s = encodeNewRequest({ id, email, model: 'gpt-4o', createdAt: '2026-01-01T00:00:00Z' });
  s.metadata.resourceVersion = String(rv);
  return s;
}
