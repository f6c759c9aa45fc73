import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { freshNamespace, kubeconfigPath, kubectl } from '../helpers/cluster';
import { type Manifest, RELEASE, REQUIRED, type Ran, chart, helmOk, manifests, withHelmHome } from '../helpers/helm';

// Every object the chart renders, validated by the API server itself: `kubectl apply
// --dry-run=server --validate=strict`, so the objects go through the real schemas, defaulting,
// validation and admission, and an unknown or misspelt field is an error rather than a warning.
// The prometheus-operator kinds are checked against their real CRDs (tests/fixtures/crds).

withHelmHome();

const fixtures = path.resolve(import.meta.dirname, '../fixtures');
const ALL_ON = path.join(fixtures, 'values-all-on.yaml');
const EXAMPLES = path.join(chart, 'examples');
const CRDS = path.join(fixtures, 'crds');
const CRD_NAMES = ['servicemonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com'];

/** The real kubectl as admin, with `input` on its stdin; reports the exit code instead of throwing. */
function kubectlWithInput(input: string, ...args: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      `${inject('clusterBin')}/kubectl`,
      ['--kubeconfig', kubeconfigPath(), ...args],
      { timeout: 45_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr });
        // A spawn failure or a timeout (no exit code) is the harness failing, not the server refusing.
        if (typeof err.code !== 'number') return reject(err);
        resolve({ code: err.code, stdout, stderr });
      },
    );
    child.stdin?.end(input);
  });
}

/** How kubectl names an object in its report: `deployment.apps/keyportal`, `service/keyportal`. */
function reportedName(o: Manifest): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return `${o.kind.toLowerCase()}${group ? `.${group}` : ''}/${o.metadata.name}`;
}

/** The objects kubectl reported as accepted in a server dry run; any other line fails the test. */
function dryRunReport(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const m = /^(\S+) (?:created|configured|unchanged) \(server dry run\)$/.exec(line);
      if (!m?.[1]) throw new Error(`kubectl reported a line that is not a server dry run: "${line}"`);
      return m[1];
    })
    .sort();
}

const yamlOf = (objects: Manifest[]): string => objects.map((o) => stringify(o)).join('---\n');

/**
 * Renders the chart for a fresh release namespace and has the API server dry-run all of it.
 *
 * The chart creates the requests' namespace itself (templates/namespace.yaml, "<release
 * namespace>-requests") and puts its Role and RoleBinding there. A server dry run of that
 * Namespace creates nothing, so the Role's dry run in the same apply would be refused with
 * `namespaces "...-requests" not found`: a fact of dry runs, not a fault of the chart (helm
 * install sends the Namespace first, for real). So the chart's own Namespace objects are
 * applied for real first, which validates them too, and then the whole output is dry-run,
 * Namespaces included (reported "unchanged"); the ServiceAccount likewise, for the helm test
 * Pod that names it. Namespaces are never deleted here: with no
 * controller-manager they would never finish terminating (see freshNamespace).
 */
async function dryRunChart(...helmArgs: string[]) {
  const namespace = await freshNamespace('kp-validate');
  const rendered = await helmOk('template', RELEASE, chart, '--namespace', namespace, ...helmArgs);
  const objects = manifests(rendered);
  const namespaces = objects.filter((o) => o.kind === 'Namespace');
  if (namespaces.length) {
    const created = await kubectlWithInput(yamlOf(namespaces), 'apply', '--validate=strict', '-f', '-');
    expect(created.code, created.stderr).toBe(0);
  }
  // The same for the ServiceAccount: a Pod (the helm test hook) is admitted only once the account
  // it names exists, and a dry run of the account creates none.
  const accounts = objects.filter((o) => o.kind === 'ServiceAccount');
  if (accounts.length) {
    const created = await kubectlWithInput(yamlOf(accounts), 'apply', '--validate=strict', '-f', '-');
    expect(created.code, created.stderr).toBe(0);
  }
  const ran = await kubectlWithInput(rendered, 'apply', '--dry-run=server', '--validate=strict', '-f', '-');
  return { namespace, rendered, objects, ran };
}

function expectEveryObjectAccepted(namespace: string, objects: Manifest[], ran: Ran): void {
  // Every template names its namespace, so nothing was checked in kubectl's "default" instead.
  for (const o of objects.filter((x) => x.kind !== 'Namespace')) {
    expect([namespace, `${namespace}-requests`], reportedName(o)).toContain(o.metadata.namespace);
  }
  expect(ran.code, ran.stderr).toBe(0);
  // No deprecation, no "unknown field" or any other warning either.
  expect(ran.stderr).toBe('');
  expect(dryRunReport(ran.stdout)).toEqual(objects.map(reportedName).sort());
}

describe('the API server accepts every object the chart renders', () => {
  beforeAll(async () => {
    // The CRDs are cluster-wide and this file only ever applies these same two files, under one
    // field manager, so applying them again is a no-op. They are left installed: another test
    // file may be using them at the same moment, and the cluster's data goes at cluster:down.
    // Server-side apply: the ServiceMonitor CRD is large for a last-applied annotation.
    await kubectl('apply', '--server-side', '--field-manager=keyportal-tests', '-f', CRDS);
    await kubectl('wait', '--for=condition=Established', '--timeout=20s', ...CRD_NAMES.map((n) => `crd/${n}`));
  });

  it('accepts a default install, object by object, with strict field validation', async () => {
    const { namespace, objects, ran } = await dryRunChart(...REQUIRED);
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Namespace', 'ConfigMap', 'Service', 'Deployment']));
    expect(objects.find((o) => o.kind === 'Namespace')?.metadata.name).toBe(`${namespace}-requests`);
    expectEveryObjectAccepted(namespace, objects, ran);
  });

  it('accepts an install with every option switched on, and the trial, from every template of the chart', async () => {
    const { namespace, rendered, objects, ran } = await dryRunChart('--values', ALL_ON);
    const trial = await dryRunChart('--values', path.join(EXAMPLES, 'trial.yaml'));
    expectEveryObjectAccepted(trial.namespace, trial.objects, trial.ran);
    // Each template file renders something with the all-on values or the trial's, so none goes
    // unchecked; a new template (or a new switch) belongs in values-all-on.yaml.
    const sourcesOf = (text: string) => [...text.matchAll(/^# Source: [^/]+\/(templates\/\S+)$/gm)].map((m) => m[1]);
    const sources = new Set([...sourcesOf(rendered), ...sourcesOf(trial.rendered)]);
    const templates = readdirSync(path.join(chart, 'templates'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.yaml'));
    expect([...sources].sort()).toEqual(templates.map((f) => `templates/${f}`).sort());
    expect(objects.map((o) => o.kind)).toEqual(
      expect.arrayContaining(['Ingress', 'NetworkPolicy', 'PodDisruptionBudget', 'ServiceMonitor', 'PrometheusRule', 'Role', 'RoleBinding', 'ServiceAccount']),
    );
    expect(objects.filter((o) => o.kind === 'Deployment')).toHaveLength(2);
    expect(objects.find((o) => o.kind === 'Namespace')?.metadata.name).toBe(`${namespace}-requests`);
    expectEveryObjectAccepted(namespace, objects, ran);
  });

  it('accepts the production example as written: ingress with TLS, OIDC, https gateway, STARTTLS relay, NetworkPolicy, ServiceMonitor, PrometheusRule, worker', async () => {
    const { namespace, objects, ran } = await dryRunChart('--values', path.join(EXAMPLES, 'production.yaml'));
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Ingress', 'NetworkPolicy', 'ServiceMonitor', 'PrometheusRule']));
    expect(objects.filter((o) => o.kind === 'Deployment')).toHaveLength(2);
    expectEveryObjectAccepted(namespace, objects, ran);
  });

  it('refuses a rendered Deployment or ServiceMonitor with a misspelt field, so the check can fail', async () => {
    const { namespace, objects, ran } = await dryRunChart(...REQUIRED, '--set', 'metrics.serviceMonitor.enabled=true');
    expectEveryObjectAccepted(namespace, objects, ran);

    // The same objects, each of two with one field the schemas do not know: a built-in kind,
    // checked by the API server's own types, and a custom resource, checked by its CRD.
    const broken = structuredClone(objects);
    const deployment = broken.find((o) => o.kind === 'Deployment') as { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } } | undefined;
    const monitor = broken.find((o) => o.kind === 'ServiceMonitor') as { spec: { endpoints: Array<Record<string, unknown>> } } | undefined;
    const container = deployment?.spec.template.spec.containers[0];
    const endpoint = monitor?.spec.endpoints[0];
    if (!container || !endpoint) throw new Error('the chart rendered no Deployment container or no ServiceMonitor endpoint');
    container.imagePullPolicyy = 'Always';
    endpoint.intervall = '30s';

    const refused = await kubectlWithInput(yamlOf(broken), 'apply', '--dry-run=server', '--validate=strict', '-f', '-');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('unknown field "spec.template.spec.containers[0].imagePullPolicyy"');
    expect(refused.stderr).toContain('unknown field "spec.endpoints[0].intervall"');
    // Everything else still passes; the two broken objects are not reported as accepted.
    const accepted = dryRunReport(refused.stdout);
    const isBroken = (o: Manifest) => o.kind === 'Deployment' || o.kind === 'ServiceMonitor';
    expect(accepted).toEqual(objects.filter((o) => !isBroken(o)).map(reportedName).sort());
  });
});
