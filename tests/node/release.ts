import { randomBytes } from 'node:crypto';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { adminKubeConfig, freshNamespace, kubectl, loopLeaseHolder, requestState } from '../helpers/cluster';
import { RELEASE, chart, exec, helmOn } from '../helpers/helm';
import { CuttableRelay } from '../helpers/net';
import { MASTER_KEY } from '../helpers/portal';
import { makeServerCert } from '../helpers/tls';
import { TestGateway } from '@/trial/litellm';
import { TestOidc } from '@/trial/oidc';
import { TestSmtp } from '@/trial/smtp';

// The chart installed on the test node from our image, with the test gateway and SMTP server
// reachable from its pods, and a door on loopback through which employees reach the portal.
//
// Network: the pods live on the node's bridge; this machine's address on it (the bridge's
// gateway) is the only one they are given. Two relays there lead to the gateway and SMTP server,
// which listen on loopback as in every other suite. Employees' side: a relay on 127.0.0.1 leads
// to the chart's Service (ClusterIP, through kube-proxy), standing in for the ingress or load
// balancer a company puts in front: each new connection goes to a Ready pod, as a real one does.
// Employees sign in through the test OIDC provider, listening on the bridge so the pods reach it.

export interface Release {
  ns: string;
  requestsNs: string;
  gateway: TestGateway;
  smtp: TestSmtp;
  /** The portal as employees reach it. */
  url: string;
  /** The --set values it was installed with, for upgrades that change one. */
  values: string[];
  stop(): Promise<void>;
}

/** Splits `localhost/keyportal:dev` into repository and tag (a registry port has no tag after it). */
export function imageParts(image: string): { repository: string; tag: string } {
  const at = image.lastIndexOf(':');
  if (at <= image.lastIndexOf('/')) return { repository: image, tag: 'latest' };
  return { repository: image.slice(0, at), tag: image.slice(at + 1) };
}

/** Imports a podman image into the node's containerd; resolves with how long it took. */
export async function importImage(image: string): Promise<number> {
  const started = Date.now();
  const r = await exec('bash', ['tests/cluster/import-image.sh', image], { ...process.env, KEYPORTAL_CLUSTER_DIR: inject('nodeClusterDir') });
  if (r.code !== 0) throw new Error(`import-image.sh ${image} exited ${r.code}:\n${r.stderr}`);
  return Date.now() - started;
}

export async function installRelease(image: string): Promise<Release> {
  const bridge = inject('nodeGatewayIp');
  const ns = await freshNamespace('kp-node');
  const gateway = new TestGateway(MASTER_KEY);
  await gateway.start();
  // STARTTLS with an internal CA, as a company's relay is: the portal refuses plain SMTP to
  // anything but loopback, and the CA reaches the pods the way an admin's would (extraVolumes).
  const tls = makeServerCert([bridge]);
  const smtp = new TestSmtp({ starttls: true, tls });
  await smtp.start();
  const gatewayDoor = new CuttableRelay({ host: '127.0.0.1', port: Number(new URL(gateway.url).port) }, bridge);
  const smtpDoor = new CuttableRelay(smtp.address, bridge);
  await gatewayDoor.start();
  await smtpDoor.start();
  // The Service's address is known only once it exists; the relay reads its target per connection.
  const service = { host: '', port: 0 };
  const portalDoor = new CuttableRelay(service);
  await portalDoor.start();
  const url = `http://127.0.0.1:${portalDoor.port}`;
  // Employees sign in through an identity provider the pods reach on the bridge, as any pod
  // reaches a company's: the development sign-in is refused in a pod.
  const oidcSecret = randomBytes(16).toString('hex');
  const oidc = new TestOidc({ clientId: 'keyportal', clientSecret: oidcSecret, redirectUri: `${url}/api/auth/callback/oidc` }, {}, bridge);
  await oidc.start();

  await kubectl('-n', ns, 'create', 'configmap', 'smtp-ca', `--from-file=ca.crt=${tls.caFile}`);
  await kubectl('-n', ns, 'create', 'secret', 'generic', 'keyportal-secrets', `--from-literal=GATEWAY_MASTER_KEY=${MASTER_KEY}`, `--from-literal=NEXTAUTH_SECRET=${randomBytes(32).toString('hex')}`, `--from-literal=OIDC_CLIENT_SECRET=${oidcSecret}`);
  const { repository, tag } = imageParts(image);
  const values = [
    `image.repository=${repository}`,
    `image.tag=${tag}`,
    // Nothing can be pulled here: the image is in the node's containerd already.
    'image.pullPolicy=Never',
    'replicaCount=2',
    'secrets.existingSecret=keyportal-secrets',
    `portal.publicUrl=${url}`,
    `config.gateway.baseUrl=http://${bridge}:${gatewayDoor.port}`,
    // Plain http on the node's own bridge, between this machine and its pods: said so knowingly.
    'config.gateway.allowPlaintext=true',
    `auth.oidc.issuer=${oidc.issuer}`,
    'auth.oidc.clientId=keyportal',
    'config.auth.oidc.allowPlaintext=true',
    `config.mail.smtp.host=${bridge}`,
    `config.mail.smtp.port=${smtpDoor.port}`,
    'config.mail.smtp.security=starttls',
    'config.mail.from=keyportal@example.com',
    'config.mail.smtp.caFile=/etc/keyportal-ca/ca.crt',
    'extraVolumes[0].name=smtp-ca',
    'extraVolumes[0].configMap.name=smtp-ca',
    'extraVolumeMounts[0].name=smtp-ca',
    'extraVolumeMounts[0].mountPath=/etc/keyportal-ca',
  ];
  await helmOn(ns, 'install', RELEASE, chart, '--set', values.join(','));
  const svc = await adminKubeConfig().makeApiClient(CoreV1Api).readNamespacedService({ name: RELEASE, namespace: ns });
  service.host = svc.spec?.clusterIP ?? '';
  service.port = svc.spec?.ports?.find((p) => p.name === 'http')?.port ?? 0;
  if (!service.host || !service.port) throw new Error(`Service ${ns}/${RELEASE} has no ClusterIP or http port`);

  return {
    ns,
    requestsNs: `${ns}-requests`,
    gateway,
    smtp,
    url,
    values,
    async stop() {
      for (const door of [portalDoor, gatewayDoor, smtpDoor]) await door.stop();
      await oidc.stop();
      await gateway.stop();
      await smtp.stop();
    },
  };
}

/** The release's pods, those terminating included. */
export async function allPods(r: Release): Promise<V1Pod[]> {
  const list = await adminKubeConfig().makeApiClient(CoreV1Api).listNamespacedPod({ namespace: r.ns, labelSelector: `app.kubernetes.io/instance=${RELEASE}` });
  return list.items;
}

/** The release's pods that are not being deleted. */
export async function livePods(r: Release): Promise<V1Pod[]> {
  return (await allPods(r)).filter((p) => !p.metadata?.deletionTimestamp);
}

export const isReady = (p: V1Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** The Deployment rolled out: every replica updated, available, and no old one left. */
export async function rolledOut(r: Release): Promise<boolean> {
  const d = await adminKubeConfig().makeApiClient(AppsV1Api).readNamespacedDeployment({ name: RELEASE, namespace: r.ns });
  const want = d.spec?.replicas ?? 0;
  const s = d.status;
  return (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) && s?.updatedReplicas === want && s?.availableReplicas === want && s?.replicas === want;
}

export const leaseHolder = (r: Release): Promise<string> => loopLeaseHolder(r.requestsNs);

/** The pod whose name the Lease's holder identity starts with (it is POD_NAME plus a suffix). */
export function holderPod(pods: V1Pod[], holder: string): V1Pod | undefined {
  return pods.find((p) => p.metadata?.name && holder.startsWith(p.metadata.name));
}

export const stateOf = (r: Release, id: string): Promise<string> => requestState(r.requestsNs, id);

/** Keys the gateway holds for a request (its alias names the request). */
export const keysFor = (r: Release, id: string) => [...r.gateway.keys.values()].filter((k) => k.key_alias?.includes(id));

/** Runs `node -e script` inside a pod's portal container; resolves with its stdout. */
export async function inPod(r: Release, pod: string, script: string): Promise<string> {
  return kubectl('-n', r.ns, 'exec', pod, '-c', 'keyportal', '--', 'node', '-e', script);
}
