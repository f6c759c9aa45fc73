import {
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1Secret,
  Watch,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { adminKubeConfig, freshNamespace, kubectl, statusOf } from '../helpers/cluster';
import { until } from '../helpers/wait';

// These would fail against a hand-written fake: they lean on the API server's own validation,
// optimistic concurrency, watch and RBAC.

const core = () => adminKubeConfig().makeApiClient(CoreV1Api);

function secret(name: string, labels: Record<string, string>): V1Secret {
  return { metadata: { name, labels }, type: 'Opaque', data: { key: Buffer.from('x').toString('base64') } };
}

describe('the test cluster is a real Kubernetes API server', () => {
  it('finds a labelled Secret by label selector', async () => {
    const ns = await freshNamespace();
    await core().createNamespacedSecret({ namespace: ns, body: secret('a', { tier: 'gold' }) });
    await core().createNamespacedSecret({ namespace: ns, body: secret('b', { tier: 'silver' }) });
    const list = await core().listNamespacedSecret({ namespace: ns, labelSelector: 'tier=gold' });
    expect(list.items.map((s) => s.metadata?.name)).toEqual(['a']);
  });

  it('shows a kubectl label change to a watch opened before it', async () => {
    const ns = await freshNamespace();
    await core().createNamespacedSecret({ namespace: ns, body: secret('w', { state: 'pending' }) });
    const seen: string[] = [];
    const watch = await new Watch(adminKubeConfig()).watch(
      `/api/v1/namespaces/${ns}/secrets`,
      {},
      (type: string, obj: V1Secret) => seen.push(`${type}:${obj.metadata?.labels?.state}`),
      () => undefined,
    );
    try {
      await until(() => seen.includes('ADDED:pending'), 'the watch to deliver the existing Secret');
      await kubectl('-n', ns, 'label', 'secret', 'w', 'state=approved', '--overwrite');
      await until(() => seen.includes('MODIFIED:approved'), 'the watch to see the kubectl label change');
    } finally {
      watch.abort();
    }
  });

  it('refuses a replace carrying a stale resourceVersion with 409', async () => {
    const ns = await freshNamespace();
    const created = await core().createNamespacedSecret({ namespace: ns, body: secret('c', { v: '1' }) });
    await core().replaceNamespacedSecret({ name: 'c', namespace: ns, body: { ...created, metadata: { ...created.metadata, labels: { v: '2' } } } });
    const stale = { ...created, metadata: { ...created.metadata, labels: { v: '3' } } };
    expect(await statusOf(core().replaceNamespacedSecret({ name: 'c', namespace: ns, body: stale }))).toBe(409);
    const now = await core().readNamespacedSecret({ name: 'c', namespace: ns });
    expect(now.metadata?.labels?.v).toBe('2');
  });

  it('refuses a label value holding @ with 422', async () => {
    const ns = await freshNamespace();
    const code = await statusOf(core().createNamespacedSecret({ namespace: ns, body: secret('d', { email: 'a@b.c' }) }));
    expect(code).toBe(422);
  });

  it('enforces RBAC: a ServiceAccount gets 403 until a Role grants it secrets get/list', async () => {
    const ns = await freshNamespace();
    await core().createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'reader' } } });
    const tokenRequest = await core().createNamespacedServiceAccountToken({
      name: 'reader',
      namespace: ns,
      body: { spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 600 } },
    });
    const token = tokenRequest.status?.token;
    expect(token).toBeTruthy();

    const admin = adminKubeConfig();
    const cluster = admin.getCurrentCluster();
    if (!cluster) throw new Error('admin kubeconfig has no cluster');
    const asReader = new KubeConfig();
    asReader.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'reader', token }],
      contexts: [{ name: 'reader', cluster: cluster.name, user: 'reader' }],
      currentContext: 'reader',
    });
    const readerApi = asReader.makeApiClient(CoreV1Api);
    expect(await statusOf(readerApi.listNamespacedSecret({ namespace: ns }))).toBe(403);

    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: 'secret-reader' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'reader-reads' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
      },
    });
    // The authorizer learns of new bindings through its informer: allow it a moment, bounded.
    let code = 0;
    for (let i = 0; i < 50 && code !== 200; i++) {
      code = await statusOf(readerApi.listNamespacedSecret({ namespace: ns }));
      if (code !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(code).toBe(200);
    // The Role grants get and list only.
    expect(await statusOf(readerApi.createNamespacedSecret({ namespace: ns, body: secret('e', {}) }))).toBe(403);
  });
});
