import { AppsV1Api, CoordinationV1Api, CoreV1Api, type KubeConfig, PolicyV1Api, RbacAuthorizationV1Api, type V1Role, type V1Secret, Watch } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { KubernetesEventRecorder } from '@/lib/loop/events';
import { LeaseElector } from '@/lib/loop/lease';
import { StoreUnavailableError } from '@/lib/store/errors';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import type { WatchEvent } from '@/lib/store/types';
import { adminKubeConfig, freshNamespace, kubeConfigForToken, kubeconfigPath, kubectl, statusOf } from '../helpers/cluster';
import { canI, chart, createAdminSecret, exec, FULLNAME, helmOn, RELEASE, REQUIRED, withHelmHome } from '../helpers/helm';
import { until } from '../helpers/wait';

// The chart on the real API server: installed, upgraded and uninstalled with the real helm, and
// its ServiceAccount's token used for what the portal does (and refused what it must not do).

withHelmHome();

describe('helm install on the real API server', () => {
  it('installs, upgrades and uninstalls, and never copies the admin’s Secret into the release', async () => {
    const ns = await freshNamespace('kp-helm');
    const sentinel = `sk-${randomBytes(8).toString('hex')}`;
    await createAdminSecret(ns, sentinel);
    const admin = adminKubeConfig();
    const core = admin.makeApiClient(CoreV1Api);
    const apps = admin.makeApiClient(AppsV1Api);
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    const policy = admin.makeApiClient(PolicyV1Api);

    // No kubelet here: the pods never run, so no --wait; the API server validates every object.
    const installed = await helmOn(ns, 'install', RELEASE, chart, ...REQUIRED, '--set', 'secrets.existingSecret=keyportal-secrets');
    expect(installed).toMatch(/STATUS: deployed/);
    // The requests get a namespace of their own, which the chart creates.
    const requests = `${ns}-requests`;
    expect(installed).toContain(`kubectl -n ${requests} get secrets -l keyportal.dev/state=in-review`);
    await core.readNamespace({ name: requests });
    expect(installed).not.toContain('secrets.existingSecret is empty');

    const deployment = await apps.readNamespacedDeployment({ name: FULLNAME, namespace: ns });
    expect(deployment.spec?.replicas).toBe(2);
    await core.readNamespacedServiceAccount({ name: FULLNAME, namespace: ns });
    await rbac.readNamespacedRole({ name: FULLNAME, namespace: requests });
    await rbac.readNamespacedRoleBinding({ name: FULLNAME, namespace: requests });
    expect(await statusOf(rbac.readNamespacedRole({ name: FULLNAME, namespace: ns }))).toBe(404);
    await policy.readNamespacedPodDisruptionBudget({ name: FULLNAME, namespace: ns });
    const service = await core.readNamespacedService({ name: FULLNAME, namespace: ns });
    expect(service.spec?.clusterIP).toMatch(/^10\.0\.0\.\d+$/);
    const configMap = await core.readNamespacedConfigMap({ name: FULLNAME, namespace: ns });
    expect(parseYaml(configMap.data?.['config.yaml'] ?? '')).toMatchObject({ loop: { concurrency: 32 } });

    // The secret values stay in the admin's Secret: not in the release, its values or its objects.
    const everything = await helmOn(ns, 'get', 'all', RELEASE);
    expect(everything).toContain('keyportal-secrets');
    expect(everything).not.toContain(sentinel);
    expect(JSON.stringify(configMap)).not.toContain(sentinel);
    expect(JSON.stringify(deployment)).not.toContain(sentinel);

    const before = deployment.spec?.template.metadata?.annotations?.['checksum/config'];
    await helmOn(ns, 'upgrade', RELEASE, chart, '--reuse-values', '--set', 'config.loop.concurrency=8,replicaCount=1');
    const upgraded = await apps.readNamespacedDeployment({ name: FULLNAME, namespace: ns });
    expect(upgraded.spec?.replicas).toBe(1);
    expect(upgraded.spec?.template.metadata?.annotations?.['checksum/config']).not.toBe(before);
    const newConfig = await core.readNamespacedConfigMap({ name: FULLNAME, namespace: ns });
    expect(parseYaml(newConfig.data?.['config.yaml'] ?? '')).toMatchObject({ loop: { concurrency: 8 } });
    expect(await statusOf(policy.readNamespacedPodDisruptionBudget({ name: FULLNAME, namespace: ns }))).toBe(404);
    const history = JSON.parse(await helmOn(ns, 'history', RELEASE, '-o', 'json')) as Array<{ revision: number; status: string }>;
    expect(history.map((h) => [h.revision, h.status])).toEqual([
      [1, 'superseded'],
      [2, 'deployed'],
    ]);

    await helmOn(ns, 'uninstall', RELEASE);
    await until(
      async () => (await statusOf(apps.readNamespacedDeployment({ name: FULLNAME, namespace: ns }))) === 404,
      'the Deployment to be gone after helm uninstall',
    );
    const leftovers = await Promise.all([
      statusOf(core.readNamespacedConfigMap({ name: FULLNAME, namespace: ns })),
      statusOf(core.readNamespacedServiceAccount({ name: FULLNAME, namespace: ns })),
      statusOf(core.readNamespacedService({ name: FULLNAME, namespace: ns })),
      statusOf(rbac.readNamespacedRole({ name: FULLNAME, namespace: requests })),
      statusOf(rbac.readNamespacedRoleBinding({ name: FULLNAME, namespace: requests })),
    ]);
    expect(leftovers).toEqual([404, 404, 404, 404, 404]);
    // The requests' namespace stays, with the requests in it (helm.sh/resource-policy: keep).
    expect(await statusOf(core.readNamespace({ name: requests }))).toBe(200);
    // The admin's own Secret was never the chart's to delete.
    expect(await statusOf(core.readNamespacedSecret({ name: 'keyportal-secrets', namespace: ns }))).toBe(200);
    expect(JSON.parse(await helmOn(ns, 'list', '-o', 'json'))).toEqual([]);
  });
});

describe('the chart’s RBAC, used with a real ServiceAccount token', () => {
  it('lets the portal store, watch, elect and record in the requests\' namespace, and nothing more: not even its own Secret', async () => {
    // The release (with the portal's own credentials) in one namespace, the requests in another.
    const release = await freshNamespace('kp-rel');
    const ns = await freshNamespace('kp-rbac');
    const other = await freshNamespace('kp-other');
    const sentinel = `sk-${randomBytes(8).toString('hex')}`;
    await createAdminSecret(release, sentinel);
    const notes = await helmOn(release, 'install', RELEASE, chart, ...REQUIRED, '--set', `store.namespace=${ns},store.createNamespace=false`);
    expect(notes).toContain('WARNING: secrets.existingSecret is empty');
    const token = (await kubectl('create', 'token', FULLNAME, '-n', release, '--duration', '10m')).trim();
    expect(token.split('.')).toHaveLength(3);
    const kc: KubeConfig = kubeConfigForToken(token, 'keyportal-sa');

    // The token really is the chart's ServiceAccount, not the admin.
    const whoami = await exec(`${inject('clusterBin')}/kubectl`, [
      '--kubeconfig', kubeconfigPath(), '--token', token, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}',
    ]);
    expect(whoami.stdout).toBe(`system:serviceaccount:${release}:${FULLNAME}`);

    // The authorizer learns of the new RoleBinding through its informer: allow it a moment.
    const store = new KubernetesSecretStore({ namespace: ns, kubeConfig: kc });
    await until(() => store.ping().then(() => true), 'the RoleBinding to take effect', 10_000, 100);

    // The request store, as the portal runs it: create, list, read, patch, watch.
    const created = await store.create({ email: 'ada@example.com', model: 'gpt-4o-mini' });
    expect(created.created).toBe(true);
    const id = created.request.id;
    expect((await store.listAll()).items.map((r) => r.id)).toEqual([id]);
    expect((await store.listByState('pending')).items.map((r) => r.id)).toEqual([id]);

    const storeEvents: WatchEvent[] = [];
    const stopStoreWatch = new AbortController();
    const storeWatching = store.watch((e) => storeEvents.push(e), stopStoreWatch.signal);
    const rawEvents: string[] = [];
    const rawErrors: unknown[] = [];
    const rawWatch = await new Watch(kc).watch(
      `/api/v1/namespaces/${ns}/secrets`,
      { labelSelector: 'app.kubernetes.io/component=key-request' },
      (type: string, obj: V1Secret) => rawEvents.push(`${type}:${obj.metadata?.labels?.['keyportal.dev/state']}`),
      (err: unknown) => {
        if (err) rawErrors.push(err);
      },
    );
    try {
      await until(() => storeEvents.some((e) => e.type === 'upsert' && e.id === id), 'the store’s watch to list the request');
      await until(() => rawEvents.includes('ADDED:pending'), `the ServiceAccount's watch to open (errors: ${rawErrors.map(String).join('; ')})`);
      const read = await store.get(id);
      const moved = await store.update(read, { state: 'in-review', reason: 'held for a person', decidedBy: 'plugin:helm-test' });
      expect(moved.state).toBe('in-review');
      expect((await store.get(id)).state).toBe('in-review');
      await until(() => rawEvents.includes('MODIFIED:in-review'), 'the ServiceAccount’s watch to see the patch');
      await until(
        () => storeEvents.filter((e) => e.type === 'upsert' && e.id === id).length >= 2,
        'the store’s watch to see the patch',
      );
    } finally {
      rawWatch.abort();
      stopStoreWatch.abort();
      await storeWatching;
    }

    // Leader election on the Lease the loop uses, with the Lease code the loop runs.
    const a = new LeaseElector(kc, { namespace: ns, identity: 'replica-a' });
    const b = new LeaseElector(kc, { namespace: ns, identity: 'replica-b' });
    expect(await a.tryAcquireOrRenew()).toBe(true); // create
    expect(await a.tryAcquireOrRenew()).toBe(true); // get + update (renew)
    expect(await b.tryAcquireOrRenew()).toBe(false); // held by a
    await a.release();
    expect(await b.tryAcquireOrRenew()).toBe(true); // update (take over)
    const lease = await adminKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'keyportal-loop', namespace: ns });
    expect(lease.spec?.holderIdentity).toBe('replica-b');

    // An Event on the request, with the recorder the loop uses (it never throws: check it landed).
    await new KubernetesEventRecorder(kc, ns).record(created.request, { type: 'Normal', reason: 'HelmChartCheck', message: 'recorded by the chart’s ServiceAccount' });
    const events = await adminKubeConfig().makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: ns });
    const ours = events.items.find((e) => e.reason === 'HelmChartCheck');
    expect(ours?.involvedObject.name).toBe(`keyreq-${id}`);
    expect(ours?.involvedObject.uid).toBe(created.request.uid);

    // Least privilege: another namespace, and anything cluster-wide, is refused.
    const api = kc.makeApiClient(CoreV1Api);
    expect(await statusOf(api.listNamespacedSecret({ namespace: other }))).toBe(403);
    // The portal's own credentials sit beside it, out of its reach.
    expect(await statusOf(api.readNamespacedSecret({ name: 'keyportal-secrets', namespace: release }))).toBe(403);
    expect(await statusOf(api.listNamespacedSecret({ namespace: release }))).toBe(403);
    expect(await statusOf(api.listSecretForAllNamespaces())).toBe(403);
    expect(await statusOf(api.listPodForAllNamespaces())).toBe(403);
    expect(await statusOf(api.listConfigMapForAllNamespaces())).toBe(403);
    expect(await statusOf(api.listNamespacedConfigMap({ namespace: release }))).toBe(403);
    await expect(new KubernetesSecretStore({ namespace: other, kubeConfig: kc }).create({ email: 'ada@example.com', model: 'gpt-4o-mini' })).rejects.toThrow(
      StoreUnavailableError,
    );

    // The Role, verb by verb: what the code calls is granted; everything else is not.
    const expected: Array<[verb: string, resource: string, namespace: string | undefined, allowed: boolean]> = [
      ['get', 'secrets', ns, true],
      ['list', 'secrets', ns, true],
      ['watch', 'secrets', ns, true],
      ['create', 'secrets', ns, true],
      ['patch', 'secrets', ns, true],
      // Retention (config.store.retention.endedDays, default 90) deletes ended requests.
      ['delete', 'secrets', ns, true],
      ['update', 'secrets', ns, false],
      ['deletecollection', 'secrets', ns, false],
      ['create', 'events', ns, true],
      ['patch', 'events', ns, false],
      ['create', 'events.events.k8s.io', ns, false],
      ['create', 'leases.coordination.k8s.io', ns, true],
      ['get', 'leases.coordination.k8s.io/keyportal-loop', ns, true],
      ['update', 'leases.coordination.k8s.io/keyportal-loop', ns, true],
      ['get', 'leases.coordination.k8s.io/kube-scheduler', ns, false],
      ['list', 'leases.coordination.k8s.io', ns, false],
      ['delete', 'leases.coordination.k8s.io/keyportal-loop', ns, false],
      ['get', 'configmaps', ns, true],
      ['watch', 'configmaps', ns, true],
      ['patch', 'configmaps', ns, true],
      ['delete', 'configmaps', ns, false],
      ['get', 'configmaps', release, false],
      ['create', 'pods', ns, false],
      ['create', 'roles.rbac.authorization.k8s.io', ns, false],
      ['create', 'serviceaccounts/token', ns, false],
      ['get', 'secrets', other, false],
      ['get', 'secrets', release, false],
      ['list', 'secrets', release, false],
      ['list', 'secrets', undefined, false],
      ['delete', 'namespaces', undefined, false],
    ];
    const answers = await Promise.all(expected.map(([verb, resource, namespace]) => canI(token, namespace, verb, resource)));
    const table = (allowed: boolean[]) => expected.map(([verb, resource, namespace], i) => `${verb} ${resource} in ${namespace ?? '(cluster)'}: ${allowed[i] ? 'yes' : 'no'}`);
    expect(table(answers)).toEqual(table(expected.map((e) => e[3])));

    // The Role as installed holds exactly these rules.
    const role: V1Role = await adminKubeConfig().makeApiClient(RbacAuthorizationV1Api).readNamespacedRole({ name: FULLNAME, namespace: ns });
    expect(role.rules?.map((r) => ({ ...r, verbs: [...r.verbs].sort() }))).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'watch'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get', 'list', 'patch', 'watch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['keyportal-loop'], verbs: ['get', 'update'] },
    ]);
  });
});
