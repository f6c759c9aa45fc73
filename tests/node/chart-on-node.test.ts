import { AppsV1Api, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKubeConfig, kubectl } from '../helpers/cluster';
import { RELEASE, chart, helmOn, withHelmHome } from '../helpers/helm';
import { testImage } from '../helpers/podman';
import { postRequest, requestKey, signIn } from '../helpers/portal-client';
import { until } from '../helpers/wait';
import { type Release, allPods, holderPod, importImage, inPod, installRelease, isReady, keysFor, leaseHolder, livePods, rolledOut, stateOf } from './release';
import { RBAC_PROBE, SECURITY_PROBE } from './probes';

// `helm install` of the chart on a real node (kubelet, containerd, kube-proxy), from the image
// `npm run image` builds: the pods start, pass the chart's probes, elect a leader, serve employees,
// survive a deleted leader and a rolling upgrade, and leave the requests behind on uninstall. The
// tests run in order against one release; each says what the one before left.

withHelmHome();
let image = '';
let r: Release;
let installedAt = 0;
const figures: Record<string, string> = {};

beforeAll(async () => {
  image = await testImage();
  figures['image import into containerd'] = `${await importImage(image)} ms`;
  installedAt = Date.now();
  r = await installRelease(image);
});

afterAll(async () => {
  await r?.stop();
  console.info(`node figures: ${JSON.stringify(figures)}`);
});

const describeProblem = async (): Promise<string> => {
  const pods = await kubectl('-n', r.ns, 'get', 'pods', '-o', 'wide').catch((e: Error) => e.message);
  const events = await kubectl('-n', r.ns, 'get', 'events', '--sort-by=.lastTimestamp').catch((e: Error) => e.message);
  return `${pods}\n${events.split('\n').slice(-15).join('\n')}`;
};

/** A failed wait says what the pods and events were, which is all there is to go on. */
async function waitFor(what: string, check: () => Promise<boolean | undefined>, timeoutMs: number, everyMs = 250): Promise<void> {
  try {
    await until(check, what, timeoutMs, everyMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await describeProblem()}`);
  }
}

describe('the chart on a real node', () => {
  it('starts two pods from the image that pass the chart’s probes, one of which holds the Lease', async () => {
    await waitFor('the Deployment to have two Ready pods', () => rolledOut(r), 150_000, 500);
    figures['helm install to two Ready pods'] = `${Date.now() - installedAt} ms`;
    const pods = await livePods(r);
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(isReady(pod)).toBe(true);
      const c = pod.spec?.containers.find((x) => x.name === 'keyportal');
      expect(c?.image).toBe(image);
      // Ready because the kubelet's probe reached readyz over the pod network, not by default.
      expect(c?.readinessProbe?.httpGet?.path).toBe('/api/readyz');
      expect(c?.livenessProbe?.httpGet?.path).toBeTruthy();
      expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    }
    await waitFor('one replica to hold the Lease', async () => holderPod(pods, await leaseHolder(r)) !== undefined, 30_000);
  });

  it('issues an employee’s request made through the Service, with one key at the gateway and one email', async () => {
    const id = await requestKey(r.url, 'ada@example.com', 'gpt-4o-mini');
    await waitFor('the request to be issued', async () => (await stateOf(r, id)) === 'issued', 30_000, 200);
    figures['helm install to first issued key'] = `${Date.now() - installedAt} ms`;
    expect(keysFor(r, id)).toHaveLength(1);
    await waitFor('one email to the requester', async () => r.smtp.messages.some((m) => m.to.includes('ada@example.com')), 15_000);
    expect(r.smtp.messages.filter((m) => m.to.includes('ada@example.com'))).toHaveLength(1);
    // The status page through the same door: what the employee opens from the email.
    const cookie = await signIn(r.url, 'ada@example.com');
    const page = await fetch(`${r.url}/requests/${id}`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('gpt-4o-mini');
  });

  it('runs as the chart says: non-root, read-only root, no privilege; the API token only in its pods, and only what the Role grants', async () => {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const sa = await core.readNamespacedServiceAccount({ name: RELEASE, namespace: r.ns });
    // Anything else run under this account gets no token; the portal's pods ask for one.
    expect(sa.automountServiceAccountToken).toBe(false);
    const [pod] = await livePods(r);
    const name = pod?.metadata?.name ?? '';
    expect(pod?.spec?.automountServiceAccountToken).toBe(true);
    expect(pod?.spec?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(pod?.spec?.containers[0]?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });

    // What the running process really is, from inside it.
    const seen = JSON.parse(await inPod(r, name, SECURITY_PROBE)) as { uid: number; gid: number; rootWritable: string; capEff: string; noNewPrivs: string };
    expect(seen.uid).toBe(10001);
    expect(seen.gid).toBe(10001);
    expect(seen.rootWritable).toBe('EROFS');
    expect(seen.capEff).toBe('0000000000000000');
    expect(seen.noNewPrivs).toBe('1');

    // What its token may do, asked of the API server from inside the pod, as the portal asks.
    const answers = JSON.parse(await inPod(r, name, RBAC_PROBE.replaceAll('__NS__', r.ns).replaceAll('__REQ_NS__', r.requestsNs))) as Record<string, number>;
    expect(answers).toEqual({
      'list secrets in the requests namespace': 200,
      'read the release namespace’s secrets (the portal’s own credentials)': 403,
      'list secrets in kube-system': 403,
      'create a pod in the requests namespace': 403,
      'list nodes': 403,
      'read a Lease other than its own': 403,
    });
    // And the Role is the only grant: no ClusterRoleBinding names the account.
    const bindings = await adminKubeConfig().makeApiClient(RbacAuthorizationV1Api).listClusterRoleBinding();
    expect(bindings.items.filter((b) => b.subjects?.some((s) => s.kind === 'ServiceAccount' && s.namespace === r.ns))).toEqual([]);
  });

  it('when the leader pod is deleted, another takes over; every request is issued once and emailed once', async () => {
    const pods = await livePods(r);
    const leader = holderPod(pods, await leaseHolder(r));
    const other = pods.find((p) => p !== leader);
    expect(leader && other).toBeTruthy();
    const leaderName = leader?.metadata?.name ?? '';
    const emails = Array.from({ length: 6 }, (_, i) => `failover-${i}@example.com`);
    const ids = await Promise.all(emails.slice(0, 3).map((e) => requestKey(r.url, e, 'gpt-4o-mini')));
    const deletedAt = Date.now();
    await kubectl('-n', r.ns, 'delete', 'pod', leaderName, '--wait=false');
    ids.push(...(await Promise.all(emails.slice(3).map((e) => requestKey(r.url, e, 'gpt-4o-mini')))));
    // The leader hands the Lease back on SIGTERM; the surviving pod (asking every 3 s) and the
    // Deployment's replacement (asking as it starts) race for it, and either may win.
    let successor = '';
    await waitFor('a live pod other than the deleted leader to hold the Lease', async () => {
      successor = holderPod(await livePods(r), await leaseHolder(r))?.metadata?.name ?? '';
      return successor !== '' && successor !== leaderName;
    }, 60_000, 100);
    figures['leader pod deleted to another pod leading'] = `${Date.now() - deletedAt} ms (${successor === other?.metadata?.name ? 'the surviving pod' : 'the replacement pod'})`;

    await waitFor('all six requests to be issued', async () => (await Promise.all(ids.map((id) => stateOf(r, id)))).every((s) => s === 'issued'), 60_000, 250);
    await waitFor('six emails', async () => emails.every((e) => r.smtp.messages.some((m) => m.to.includes(e))), 30_000);
    for (const id of ids) expect(keysFor(r, id)).toHaveLength(1);
    for (const e of emails) expect(r.smtp.messages.filter((m) => m.to.includes(e))).toHaveLength(1);
    // The Deployment replaced the deleted pod.
    await waitFor('two Ready pods again', () => rolledOut(r), 120_000, 500);
  });

  it('rolls the pods to a new config with helm upgrade while employees keep using it: no failed request', async () => {
    const before = new Set((await livePods(r)).map((p) => p.metadata?.name));
    const cookie = await signIn(r.url, 'grace@example.com');
    const failures: string[] = [];
    let answered = 0;
    let stop = false;
    // Employees during the rollout: page loads and catalog reads, back to back.
    const load = (async () => {
      for (let i = 0; !stop && i < 5_000; i++) {
        const path = i % 2 ? '/api/models' : '/requests';
        try {
          const res = await fetch(`${r.url}${path}`, { headers: { cookie } });
          await res.arrayBuffer();
          if (res.status !== 200) failures.push(`${path}: HTTP ${res.status}`);
          answered++;
        } catch (err) {
          failures.push(`${path}: ${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`);
        }
      }
    })();
    const started = Date.now();
    // A new catalog: the ConfigMap changes, its checksum annotation rolls the pods.
    await helmOn(r.ns, 'upgrade', RELEASE, chart, '--reuse-values', '--set', 'config.models[0].id=gpt-4o-mini,config.models[0].title=GPT-4o mini (upgraded)');
    await waitFor('the rollout to finish', async () => (await rolledOut(r)) && (await livePods(r)).every((p) => !before.has(p.metadata?.name)), 150_000, 500);
    figures['helm upgrade rollout'] = `${Date.now() - started} ms`;
    // The old pods drain (they answer for a few seconds after SIGTERM) until they are gone.
    await waitFor('the old pods to be gone', async () => (await allPods(r)).every((p) => !before.has(p.metadata?.name)), 60_000, 250);
    stop = true;
    await load;
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(20);
    const models = (await (await fetch(`${r.url}/api/models`, { headers: { cookie } })).json()) as { models: Array<{ title: string }> };
    expect(JSON.stringify(models)).toContain('GPT-4o mini (upgraded)');
    // The new pods still issue.
    const id = (await postRequest(r.url, cookie, 'gpt-4o-mini')).id ?? '';
    await waitFor('a request after the upgrade to be issued', async () => (await stateOf(r, id)) === 'issued', 30_000, 200);
  });

  it('helm uninstall removes the pods and leaves the requests’ Secrets in place', async () => {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const before = await core.listNamespacedSecret({ namespace: r.requestsNs, labelSelector: 'app.kubernetes.io/managed-by=keyportal' });
    expect(before.items.length).toBeGreaterThanOrEqual(8);
    await helmOn(r.ns, 'uninstall', RELEASE, '--wait', '--timeout', '90s');
    await waitFor('the pods to be gone', async () => (await livePods(r)).length === 0 && (await adminKubeConfig().makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace: r.ns })).items.length === 0, 90_000, 500);
    const after = await core.listNamespacedSecret({ namespace: r.requestsNs, labelSelector: 'app.kubernetes.io/managed-by=keyportal' });
    expect(after.items.map((s) => s.metadata?.name).sort()).toEqual(before.items.map((s) => s.metadata?.name).sort());
    expect((await core.readNamespace({ name: r.requestsNs })).status?.phase).toBe('Active');
  });
});
