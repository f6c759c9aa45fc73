import { ApiException, type KubeConfig, PatchStrategy } from '@kubernetes/client-node';
import { rawCall } from './raw';

interface ConfigMap {
  data?: Record<string, string>;
}

const pathOf = (namespace: string): string => `/api/v1/namespaces/${namespace}/configmaps`;

/**
 * Adds data keys to a ConfigMap (null removes one) with a merge patch, which needs no read first:
 * two writers adding different keys at once cannot lose each other's. A ConfigMap not there yet
 * is created (labelled `component`), and one a rival created a moment before is patched.
 */
export async function mergeConfigMapData(kc: KubeConfig, namespace: string, name: string, component: string, data: Record<string, string | null>): Promise<void> {
  const patch = () => rawCall<ConfigMap>(kc, { method: 'PATCH', path: `${pathOf(namespace)}/${name}`, contentType: PatchStrategy.MergePatch, body: { data } });
  try {
    await patch();
  } catch (err) {
    if (!(err instanceof ApiException) || err.code !== 404) throw err;
    const created = Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => e[1] !== null));
    const metadata = { name, labels: { 'app.kubernetes.io/managed-by': 'keyportal', 'app.kubernetes.io/component': component } };
    await rawCall<ConfigMap>(kc, { method: 'POST', path: pathOf(namespace), body: { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: created } }).catch(async (e: unknown) => {
      if (!(e instanceof ApiException) || e.code !== 409) throw e;
      await patch();
    });
  }
}

/** A ConfigMap's data, or undefined when there is no such ConfigMap. */
export async function readConfigMapData(kc: KubeConfig, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  try {
    return (await rawCall<ConfigMap>(kc, { method: 'GET', path: `${pathOf(namespace)}/${name}` })).data ?? {};
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}
