import { randomBytes } from 'node:crypto';
import type { V1Deployment, V1Ingress } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FULLNAME, RELEASE, REQUIRED, SECRET_VARS, chart, helmOk, manifests, fakeSecret, helm, only, portalConfig, portalContainer, render, withHelmHome, withoutSecretEnv } from '../helpers/helm';

// The chart as helm lint and helm template see it: what it renders, checked against what the
// portal itself accepts.

withHelmHome();

describe('the Helm chart passes helm lint', () => {
  it('lints clean in strict mode, with defaults and with every optional part switched on', async () => {
    const plain = await helm('lint', '--strict', chart, ...REQUIRED);
    expect(plain.code, plain.stdout + plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);

    const full = await helm(
      'lint', '--strict', chart, ...REQUIRED,
      '--set', 'secrets.existingSecret=keyportal-secrets,ingress.enabled=true,ingress.className=nginx',
      '--set', 'ingress.tls.enabled=true,ingress.tls.secretName=keys-tls,auth.oidc.issuer=https://login.example.com,auth.oidc.clientId=keyportal',
    );
    expect(full.code, full.stdout + full.stderr).toBe(0);
  });
});

describe('helm template renders what the portal can run', () => {
  it('renders a config.yaml that the portal’s own schema accepts, with the environment the pod gets', async () => {
    const objects = await render('keys', '--set', 'secrets.existingSecret=keyportal-secrets', '--set', 'portal.publicUrl=https://keys.corp.test');
    const config = portalConfig(objects, 'keys');
    // Requests live apart from the release namespace (and its credentials).
    expect(config.store).toEqual({ type: 'kubernetes', namespace: 'keys-requests', retention: { endedDays: 90, maxDeletesPerMinute: 60 } });
    expect(config.models.map((m) => m.id)).toHaveLength(2);
    expect(config.approvals.default).toBe('review');
    expect(config.approvals.plugins.map((p) => p.name)).toEqual(['blacklist', 'whitelist']);
    expect(config.gateway).toMatchObject({ type: 'litellm', baseUrl: 'https://litellm.llm.svc:4000' });
    expect(config.mail.smtp?.host).toBeTruthy();
    expect(config.portal.publicUrl).toBe('https://keys.corp.test');
    expect(config.loop).toMatchObject({ enabled: true, leaderElection: true });
    expect(config.secrets.GATEWAY_MASTER_KEY).toBe(fakeSecret('GATEWAY_MASTER_KEY'));

    // OIDC settings reach the portal's auth section; its client secret must come from the Secret.
    const oidcArgs = ['--set', 'auth.oidc.issuer=https://login.corp.test/realms/staff,auth.oidc.clientId=keyportal'];
    const oidc = await render('keys', '--set', 'secrets.existingSecret=keyportal-secrets', ...oidcArgs);
    expect(portalConfig(oidc, 'keys').auth.oidc).toMatchObject({ issuer: 'https://login.corp.test/realms/staff', clientId: 'keyportal' });
    expect(portalConfig(oidc, 'keys').secrets).toMatchObject({ OIDC_CLIENT_SECRET: fakeSecret('OIDC_CLIENT_SECRET'), NEXTAUTH_SECRET: fakeSecret('NEXTAUTH_SECRET') });
    expect(() => portalConfig(oidc.map(withoutSecretEnv), 'keys')).toThrow(/OIDC_CLIENT_SECRET/);

    // The same check refuses what the portal would refuse, naming the field.
    const bad = await render('keys', '--set', 'secrets.existingSecret=keyportal-secrets', '--set', 'config.approvals.default=maybe');
    expect(() => portalConfig(bad, 'keys')).toThrow(/approvals\.default/);
    // Without the admin's Secret the litellm gateway has no master key, and the portal says so.
    expect(() => portalConfig(objects.map(withoutSecretEnv), 'keys')).toThrow(/GATEWAY_MASTER_KEY/);
  });

  it('puts secrets in the pod only as references to the admin’s Secret, never as values', async () => {
    const objects = await render('keys', '--set', 'secrets.existingSecret=keyportal-secrets');
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    const env = portalContainer(only<V1Deployment>(objects, 'Deployment')).env ?? [];
    for (const name of SECRET_VARS) {
      const entry = env.find((e) => e.name === name);
      expect(entry, name).toBeDefined();
      expect(entry?.value, name).toBeUndefined();
      expect(entry?.valueFrom?.secretKeyRef, name).toEqual({ name: 'keyportal-secrets', key: name, optional: true });
    }

    // Without existingSecret, no secret variable is set at all.
    const none = portalContainer(only<V1Deployment>(await render('keys'), 'Deployment')).env ?? [];
    expect(none.map((e) => e.name).filter((n) => SECRET_VARS.includes(n))).toEqual([]);

    // A secret typed into the values is refused before anything renders, and is not echoed back.
    const sentinel = `sk-${randomBytes(8).toString('hex')}`;
    const inConfig = await helm('template', RELEASE, chart, ...REQUIRED, '--set', `config.gateway.masterKey=${sentinel}`);
    expect(inConfig.code).not.toBe(0);
    expect(inConfig.stderr).toMatch(/config\.gateway\.masterKey: secrets never go in config\.yaml/);
    expect(inConfig.stderr).not.toContain(sentinel);
    expect(inConfig.stdout).not.toContain(sentinel);
    const inSecrets = await helm('template', RELEASE, chart, ...REQUIRED, '--set', `secrets.gatewayMasterKey=${sentinel}`);
    expect(inSecrets.code).not.toBe(0);
    expect(inSecrets.stderr).toMatch(/gatewayMasterKey/);
    expect(inSecrets.stderr).not.toContain(sentinel);
  });

  it('refuses a value of the wrong type, naming the field', async () => {
    const replicas = await helm('template', RELEASE, chart, ...REQUIRED, '--set', 'replicaCount=two');
    expect(replicas.code).not.toBe(0);
    expect(replicas.stderr).toMatch(/replicaCount/);
    expect(replicas.stderr).toMatch(/integer/);

    const ingress = await helm('template', RELEASE, chart, ...REQUIRED, '--set', 'ingress.enabled=yes');
    expect(ingress.code).not.toBe(0);
    expect(ingress.stderr).toMatch(/ingress\/enabled|ingress\.enabled/);

    // A duration prometheus-operator's CRDs would refuse (units out of order) is refused here first.
    const interval = await helm('template', RELEASE, chart, ...REQUIRED, '--set', 'metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.interval=30s1m');
    expect(interval.code).not.toBe(0);
    expect(interval.stderr).toMatch(/serviceMonitor\/interval/);

    // A well-typed value of the same fields renders, so the refusals above are the schema's.
    expect((await helm('template', RELEASE, chart, ...REQUIRED, '--set', 'replicaCount=3,ingress.enabled=true,metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.interval=1h30m')).code).toBe(0);
  });

  it('runs the portal hardened: non-root, read-only root, no capabilities, probes on readyz and healthz', async () => {
    const deployment = only<V1Deployment>(await render('keys'), 'Deployment');
    const pod = deployment.spec?.template.spec;
    const c = portalContainer(deployment);
    expect(deployment.spec?.replicas).toBe(2);
    expect(pod?.serviceAccountName).toBe(FULLNAME);
    expect(pod?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.image).toBe('ghcr.io/keyportal/keyportal:0.1.0');
    expect(c.ports).toEqual([{ name: 'http', containerPort: 3000, protocol: 'TCP' }, { name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
    expect(c.readinessProbe?.httpGet).toMatchObject({ path: '/api/readyz', port: 'http' });
    expect(c.livenessProbe?.httpGet).toMatchObject({ path: '/api/healthz', port: 'http' });
    expect(c.resources?.requests).toBeDefined();

    // The only writable paths are emptyDirs; the config is a read-only ConfigMap mount.
    const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    const volumes = Object.fromEntries((pod?.volumes ?? []).map((v) => [v.name, v]));
    expect(volumes[mounts['/tmp']?.name ?? '']?.emptyDir).toBeDefined();
    expect(volumes[mounts['/app/.next/cache']?.name ?? '']?.emptyDir).toBeDefined();
    expect(mounts['/etc/keyportal']?.readOnly).toBe(true);
    expect(volumes[mounts['/etc/keyportal']?.name ?? '']?.configMap?.name).toBe(FULLNAME);

    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
    expect(env.KEYPORTAL_CONFIG?.value).toBe('/etc/keyportal/config.yaml');
    expect(env.KEYPORTAL_STORE_TYPE?.value).toBe('kubernetes');
    expect(env.NODE_ENV?.value).toBe('production');
    expect(env.KEYPORTAL_NAMESPACE?.value).toBe('keys-requests');
    expect(env.POD_NAME?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
  });

  it('rolls the pods when the config changes, and only then', async () => {
    const checksum = async (...args: string[]) =>
      only<V1Deployment>(await render('keys', ...args), 'Deployment').spec?.template.metadata?.annotations?.['checksum/config'];
    const base = await checksum();
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(await checksum('--set', 'replicaCount=3')).toBe(base);
    expect(await checksum('--set', 'config.loop.concurrency=8')).not.toBe(base);
  });

  it('adds a PodDisruptionBudget only for more than one replica, and an Ingress only when asked', async () => {
    const two = await render('keys');
    expect(two.filter((o) => o.kind === 'PodDisruptionBudget')).toHaveLength(1);
    expect(two.filter((o) => o.kind === 'Ingress')).toHaveLength(0);
    expect(only<{ spec: { type: string; ports: unknown[] } }>(two, 'Service').spec).toMatchObject({
      type: 'ClusterIP',
      ports: [{ port: 80, targetPort: 'http' }, { name: 'metrics', port: 9464, targetPort: 'metrics' }],
    });

    const one = await render(
      'keys',
      '--set', 'replicaCount=1,ingress.enabled=true,ingress.className=nginx,ingress.host=keys.corp.test',
      '--set', 'ingress.tls.enabled=true,ingress.tls.secretName=keys-tls',
    );
    expect(one.filter((o) => o.kind === 'PodDisruptionBudget')).toHaveLength(0);
    const ingress = only<V1Ingress>(one, 'Ingress');
    expect(ingress.spec?.ingressClassName).toBe('nginx');
    expect(ingress.spec?.rules?.[0]?.host).toBe('keys.corp.test');
    expect(ingress.spec?.tls).toEqual([{ hosts: ['keys.corp.test'], secretName: 'keys-tls' }]);
    expect(ingress.spec?.rules?.[0]?.http?.paths[0]?.backend.service).toEqual({ name: FULLNAME, port: { name: 'http' } });
  });

  it('grants the Role only in the requests\' namespace, keeps that namespace on uninstall, and fences the pods when asked', async () => {
    const objects = await render('keys', '--set', 'secrets.existingSecret=keyportal-secrets,store.namespace=key-requests,networkPolicy.enabled=true', '--set-json', 'networkPolicy.egressTo=[{"to":[{"ipBlock":{"cidr":"10.0.0.1/32"}}],"ports":[{"port":443}]}]');
    const role = only<{ metadata: { namespace: string } }>(objects, 'Role');
    const binding = only<{ metadata: { namespace: string }; subjects: Array<{ namespace: string }> }>(objects, 'RoleBinding');
    expect([role.metadata.namespace, binding.metadata.namespace, binding.subjects[0]?.namespace]).toEqual(['key-requests', 'key-requests', 'keys']);
    expect(objects.filter((o) => o.kind === 'Role' && o.metadata.namespace === 'keys')).toEqual([]);
    const ns = only<{ metadata: { name: string; annotations: Record<string, string> } }>(objects, 'Namespace');
    expect(ns.metadata).toMatchObject({ name: 'key-requests', annotations: { 'helm.sh/resource-policy': 'keep' } });
    const policy = only<{ spec: { policyTypes: string[]; egress: unknown[] } }>(objects, 'NetworkPolicy');
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.egress).toHaveLength(2);
    expect(portalConfig(objects, 'keys').store).toEqual({ type: 'kubernetes', namespace: 'key-requests', retention: { endedDays: 90, maxDeletesPerMinute: 60 } });
    expect(await render('keys')).not.toContainEqual(expect.objectContaining({ kind: 'NetworkPolicy' }));
  });

  it('a NetworkPolicy with no peers named admits nobody; with peers, exactly those, each to its own port', async () => {
    type Policy = { spec: { ingress: Array<{ from: unknown[]; ports: Array<{ port: string }> }> } };
    const none = only<Policy>(await render('keys', '--set', 'networkPolicy.enabled=true'), 'NetworkPolicy');
    // An empty `from` would admit every source; no rule at all admits none.
    expect(none.spec.ingress).toEqual([]);
    const ingressController = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } };
    const prometheus = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } };
    const named = only<Policy>(
      await render('keys', '--set', 'networkPolicy.enabled=true', '--set-json', `networkPolicy.ingressFrom=[${JSON.stringify(ingressController)}]`, '--set-json', `networkPolicy.metricsFrom=[${JSON.stringify(prometheus)}]`),
      'NetworkPolicy',
    );
    expect(named.spec.ingress).toEqual([
      { from: [ingressController], ports: [{ port: 'http', protocol: 'TCP' }] },
      { from: [prometheus], ports: [{ port: 'metrics', protocol: 'TCP' }] },
    ]);
    expect(named.spec.ingress.every((r) => r.from.length > 0)).toBe(true);
    // An empty peer ({}) is refused by the schema, naming the field.
    const empty = await helm('template', RELEASE, chart, ...REQUIRED, '--set', 'networkPolicy.enabled=true', '--set-json', 'networkPolicy.ingressFrom=[{}]');
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toMatch(/ingressFrom/);
  });

  it('an install that leaves out what has no sane default fails, naming each value', async () => {
    const bare = await helm('template', RELEASE, chart, '--namespace', 'keys');
    expect(bare.code).not.toBe(0);
    for (const value of ['/portal/publicUrl', '/auth/oidc/issuer', '/auth/oidc/clientId', '/config/gateway/baseUrl', '/config/mail/from', '/config/mail/smtp/host']) expect(bare.stderr, value).toContain(`'${value}'`);
    // One at a time: each missing value alone is named.
    for (const [left, named] of [['config.mail.smtp.host', '/config/mail/smtp/host'], ['portal.publicUrl', '/portal/publicUrl']] as const) {
      const r = await helm('template', RELEASE, chart, '--set', REQUIRED[1]?.split(',').filter((v) => !v.startsWith(`${left}=`)).join(',') ?? '');
      expect(r.code, left).not.toBe(0);
      expect(r.stderr, left).toContain(`'${named}'`);
    }
  });

  it('a trial renders its stand-ins, its own secrets and CA, and a config the portal accepts, with nothing else set', async () => {
    const objects = manifests(await helmOk('template', RELEASE, chart, '--namespace', 'keys', '-f', `${chart}/examples/trial.yaml`));
    const deployments = objects.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name).sort();
    expect(deployments).toEqual([FULLNAME, `${FULLNAME}-trial-gateway`, `${FULLNAME}-trial-smtp`]);
    const secret = objects.find((o) => o.kind === 'Secret') as unknown as { metadata: { name: string; labels: Record<string, string> }; data: Record<string, string> };
    expect(secret.metadata).toMatchObject({ name: `${FULLNAME}-trial`, labels: { 'keyportal.dev/trial': 'true' } });
    expect(Object.keys(secret.data).sort()).toEqual(['GATEWAY_MASTER_KEY', 'NEXTAUTH_SECRET', 'OIDC_CLIENT_SECRET', 'ca.crt', 'tls.crt', 'tls.key']);
    expect(Buffer.from(secret.data['tls.crt'] ?? '', 'base64').toString()).toContain('BEGIN CERTIFICATE');
    const config = portalConfig(objects, 'keys');
    expect(config.portal).toMatchObject({ trial: true, publicUrl: 'http://127.0.0.1:3000' });
    expect(config.gateway).toMatchObject({ type: 'litellm', baseUrl: `https://${FULLNAME}-trial-gateway:4000` });
    expect(config.mail.smtp).toMatchObject({ host: `${FULLNAME}-trial-smtp`, port: 2525, security: 'starttls', caFile: '/etc/keyportal-trial/ca.crt' });
    expect(config.auth.oidc).toMatchObject({ issuer: 'http://127.0.0.1:9090', clientId: 'keyportal' });
    const portal = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === FULLNAME) as unknown as V1Deployment;
    expect(portal.spec?.template.spec?.containers.map((c) => c.name)).toEqual(['keyportal', 'trial-oidc']);
    expect(portal.spec?.template.spec?.containers[1]?.args).toContain('--redirect-uri=http://127.0.0.1:3000/api/auth/callback/oidc');
    // The stand-ins run from the portal's own image, as its non-root user.
    for (const name of ['gateway', 'smtp']) {
      const d = objects.find((o) => o.metadata.name === `${FULLNAME}-trial-${name}` && o.kind === 'Deployment') as unknown as V1Deployment;
      expect(d.spec?.template.spec?.containers[0]?.command).toEqual(['node', 'trial.mjs', name]);
      expect(d.spec?.template.spec?.containers[0]?.image).toBe(portalContainer(portal).image);
      expect(d.spec?.template.spec?.securityContext?.runAsNonRoot).toBe(true);
    }
    // A helm test pod checks the gateway, the relay and the identity provider from inside.
    expect(objects.find((o) => o.kind === 'Pod')?.metadata.annotations?.['helm.sh/hook']).toBe('test');
  });

  it('refuses to keep requests in the release namespace, beside the portal\'s own credentials', async () => {
    const same = await helm('template', RELEASE, chart, '--namespace', 'keys', ...REQUIRED, '--set', 'store.namespace=keys');
    expect(same.code).not.toBe(0);
    expect(same.stderr).toMatch(/store\.namespace: "keys" is the release namespace/);
  });
});
