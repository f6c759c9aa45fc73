import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import { type Manifest, exec, only, portalConfig, portalContainer, render, withHelmHome } from '../helpers/helm';
import { freePort } from '../helpers/net';
import { configDocument, spawnWorker, stopProcess, stopWorker } from '../helpers/portal';
import { until } from '../helpers/wait';
import { afterThisTest, clusterWorld } from '../helpers/world';

// Metrics as an operator meets them: a real Prometheus scraping a real worker process, and the
// chart's alerts checked and unit-tested by promtool.

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';

withHelmHome();

beforeAll(async () => {
  // The Debian package may still be installing when the suite starts: wait for it, boundedly.
  await until(() => existsSync(PROMETHEUS) && existsSync(PROMTOOL), `${PROMETHEUS} and ${PROMTOOL} (Debian package prometheus)`, 300_000, 1000);
}, 310_000);

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  afterThisTest(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Prometheus on loopback, scraping `target` every second into a throwaway TSDB. */
async function startPrometheus(target: string): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
  const dir = tempDir('keyportal-prom-');
  const config = path.join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      scrape_configs: [{ job_name: 'keyportal', static_configs: [{ targets: [target] }] }],
    }),
  );
  const port = await freePort();
  const child = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr?.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  });
  afterThisTest(async () => {
    await stopProcess(child);
  });
  const url = `http://127.0.0.1:${port}`;
  await until(async () => child.exitCode === null && (await fetch(`${url}/-/ready`)).ok, `Prometheus to be ready (stderr: ${tail})`, 30_000, 200);
  return { url, child, stderr: () => tail };
}

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(prom: string, expr: string): Promise<PromSample[]> {
  const res = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: PromSample[] } };
  if (body.status !== 'success' || body.data?.resultType !== 'vector') throw new Error(`query ${expr} failed: ${body.error ?? res.status}`);
  return body.data.result;
}

/** The one value an expression has now, or undefined when it has none. */
async function valueOf(prom: string, expr: string): Promise<number | undefined> {
  const result = await query(prom, expr);
  if (result.length > 1) throw new Error(`${expr} has ${result.length} series`);
  return result[0] ? Number(result[0].value[1]) : undefined;
}

describe('Prometheus scrapes a running Keyportal', () => {
  it('a worker’s issued keys, decisions, leadership and readiness show up in Prometheus as numbers', async () => {
    const { gateway, smtp, setup, store } = await clusterWorld('metrics', { leaderElection: true });
    const metricsPort = await freePort();
    const configFile = path.join(tempDir('keyportal-cfg-'), 'config.yaml');
    writeFileSync(configFile, stringify({ ...configDocument(setup), metrics: { port: metricsPort, host: '127.0.0.1' } }));
    const worker = spawnWorker(configFile);
    afterThisTest(() => stopWorker(worker));
    await until(async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).ok, `the worker's metrics endpoint (stderr: ${worker.stderr()})`, 20_000, 100);

    // Three approved by the whitelist and issued, one denied by the blacklist, one held for a person.
    const issued = await Promise.all(['ada', 'grace', 'alan'].map((u) => store.create({ email: `${u}@example.com`, model: 'gpt-4o' })));
    const denied = await store.create({ email: 'eve@example.com', model: 'internal/secret-model' });
    const held = await store.create({ email: 'bob@example.com', model: 'experimental' });
    await until(async () => {
      const states = await Promise.all([...issued, denied, held].map(async ({ request }) => store.get(request.id)));
      return states.every((r) => r.notified === r.state && (r.state !== 'issued' || !r.hasKey));
    }, `every request decided and emailed (worker stderr: ${worker.stderr()})`, 30_000, 100);
    expect((await store.get(held.request.id)).state).toBe('in-review');
    expect(gateway.keys.size).toBe(3);
    const mails = smtp.messages.length;
    expect(mails).toBe(5);

    const prom = await startPrometheus(`127.0.0.1:${metricsPort}`);
    // Scraped every second: wait (boundedly) for a scrape taken after the last email was counted.
    await until(
      async () => (await valueOf(prom.url, 'keyportal_requests{state="issued"}')) === 3 && (await valueOf(prom.url, 'keyportal_mail_sends_total{outcome="ok"}')) === mails,
      `Prometheus to have scraped the final numbers (prometheus stderr: ${prom.stderr()})`,
      30_000,
      250,
    );

    expect(await valueOf(prom.url, 'up{job="keyportal"}')).toBe(1);
    expect(await valueOf(prom.url, 'keyportal_requests{state="issued"}')).toBe(3);
    expect(await valueOf(prom.url, 'keyportal_requests{state="denied"}')).toBe(1);
    expect(await valueOf(prom.url, 'keyportal_requests{state="in-review"}')).toBe(1);
    expect(await valueOf(prom.url, 'keyportal_requests{state="pending"}')).toBe(0);
    expect(await valueOf(prom.url, 'keyportal_decisions_total{decider="whitelist",outcome="approve"}')).toBe(3);
    expect(await valueOf(prom.url, 'keyportal_decisions_total{decider="blacklist",outcome="deny"}')).toBe(1);
    expect(await valueOf(prom.url, 'keyportal_decisions_total{decider="default",outcome="review"}')).toBe(1);
    expect(await valueOf(prom.url, 'keyportal_gateway_calls_total{operation="generate",outcome="ok"}')).toBe(3);
    expect(await valueOf(prom.url, 'keyportal_issue_duration_seconds_count')).toBe(3);
    // Every key went out within seconds: all three in the 30 s bucket.
    expect(await valueOf(prom.url, 'keyportal_issue_duration_seconds_bucket{le="30"}')).toBe(3);
    expect(await valueOf(prom.url, 'keyportal_loop_leader')).toBe(1);
    expect(await valueOf(prom.url, 'keyportal_ready')).toBe(1);
    expect(await valueOf(prom.url, 'keyportal_loop_queue_depth')).toBe(0);
    expect(await valueOf(prom.url, 'keyportal_oldest_in_review_seconds')).toBeGreaterThanOrEqual(0);
    expect(await valueOf(prom.url, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    // Nothing Prometheus stored from Keyportal names a person, a request or a key.
    const series = await query(prom.url, '{__name__=~"keyportal_.+"}');
    expect(series.length).toBeGreaterThan(20);
    const ids = [...issued, denied, held].map(({ request }) => request.id);
    for (const s of series) {
      for (const [label, value] of Object.entries(s.metric)) {
        expect(value, `${s.metric.__name__}{${label}}`).not.toMatch(/@|sk-/);
        for (const id of ids) expect(value).not.toContain(id);
      }
    }
  }, 120_000);
});

describe('the chart’s metrics', () => {
  it('serves metrics on port 9464 by default, in the config the portal reads, on the container and on the Service', async () => {
    const objects = await render('keys', '--set', 'secrets.existingSecret=keyportal-secrets');
    expect(portalConfig(objects, 'keys').metrics).toEqual({ port: 9464, host: '0.0.0.0' });
    expect(portalContainer(only<V1Deployment>(objects, 'Deployment')).ports).toContainEqual({ name: 'metrics', containerPort: 9464, protocol: 'TCP' });
    expect(only<V1Service>(objects, 'Service').spec?.ports).toContainEqual({ name: 'metrics', port: 9464, targetPort: 'metrics', protocol: 'TCP' });
    // Opt-in monitoring objects need the prometheus-operator's CRDs: none by default.
    expect(objects.filter((o) => o.kind === 'ServiceMonitor' || o.kind === 'PrometheusRule')).toEqual([]);

    const off = await render('keys', '--set', 'secrets.existingSecret=keyportal-secrets,metrics.enabled=false');
    expect(portalConfig(off, 'keys').metrics).toEqual({ port: null, host: '127.0.0.1' });
    expect(JSON.stringify(off)).not.toContain('9464');
  });

  it('a ServiceMonitor scrapes the portal’s metrics port, and the workers’ through a headless Service of their own', async () => {
    const objects = await render('keys', '--set', 'metrics.serviceMonitor.enabled=true,worker.enabled=true', '--set', 'metrics.serviceMonitor.labels.release=kps');
    const monitor = only<Manifest & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: Array<Record<string, unknown>> } }>(objects, 'ServiceMonitor');
    expect(monitor.metadata.labels?.release).toBe('kps');
    expect(monitor.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s', scheme: 'http' }]);
    const services = objects.filter((o) => o.kind === 'Service') as unknown as V1Service[];
    expect(services.map((svc) => svc.metadata?.name).sort()).toEqual(['keyportal', 'keyportal-worker-metrics']);
    for (const svc of services) {
      // Selected by the monitor, and offering it the port it scrapes.
      for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) expect(svc.metadata?.labels?.[k]).toBe(v);
      expect(svc.spec?.ports?.map((p) => p.name)).toContain('metrics');
    }
    const worker = services.find((svc) => svc.metadata?.name === 'keyportal-worker-metrics');
    expect(worker?.spec?.clusterIP).toBe('None');
    expect(worker?.spec?.selector?.['app.kubernetes.io/component']).toBe('worker');

    // Asking for monitoring with metrics off is a mistake the chart names.
    await expect(render('keys', '--set', 'metrics.enabled=false,metrics.serviceMonitor.enabled=true')).rejects.toThrow(/metrics\.serviceMonitor\.enabled/);
    await expect(render('keys', '--set', 'metrics.port=3000')).rejects.toThrow(/metrics\.port: 3000/);
  });
});

describe('the chart’s PrometheusRule', () => {
  async function ruleFiles(): Promise<{ dir: string; rules: string; spec: { groups: Array<{ rules: Array<Record<string, unknown>> }> } }> {
    const objects = await render('keys', '--set', 'metrics.prometheusRule.enabled=true,metrics.serviceMonitor.enabled=true,metrics.prometheusRule.reviewWaitingMinutes=30');
    const rule = objects.find((o: Manifest) => o.kind === 'PrometheusRule');
    expect(rule, 'a PrometheusRule is rendered').toBeDefined();
    const spec = (rule as Manifest).spec as { groups: Array<{ rules: Array<Record<string, unknown>> }> };
    const dir = tempDir('keyportal-rules-');
    const rules = path.join(dir, 'rules.yaml');
    writeFileSync(rules, stringify(spec));
    return { dir, rules, spec };
  }

  it('passes promtool check rules, and every alert has a severity, a summary and a runbook hint', async () => {
    const { rules, spec } = await ruleFiles();
    const checked = await exec(PROMTOOL, ['check', 'rules', rules]);
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    expect(checked.stdout).toMatch(/SUCCESS: 5 rules found/);
    const alerts = spec.groups.flatMap((g) => g.rules);
    expect(alerts.map((a) => a.alert)).toEqual(['KeyportalReviewWaiting', 'KeyportalMintFailing', 'KeyportalLoopNotRunning', 'KeyportalAuditBacklog', 'KeyportalNotReady']);
    for (const a of alerts) {
      expect((a.labels as Record<string, string>).severity).toMatch(/^(warning|critical)$/);
      const annotations = a.annotations as Record<string, string>;
      expect(annotations.summary).toBeTruthy();
      expect(annotations.description).toMatch(/Runbook: /);
    }
  });

  it('fires when no replica leads the loop or a pod stays not ready, and stays quiet while one leads', async () => {
    const { dir, spec } = await ruleFiles();
    const alerts = new Map(spec.groups.flatMap((g) => g.rules).map((r) => [r.alert as string, r]));
    /** The rendered annotations as Prometheus expands them for an alert with these labels. */
    const expected = (name: string, labels: Record<string, string>) => {
      const annotations = alerts.get(name)?.annotations as Record<string, string>;
      return Object.fromEntries(
        Object.entries(annotations).map(([k, v]) => {
          expect(v, `${name} ${k}: promtool needs the exact text, so no $value here`).not.toContain('$value');
          return [k, v.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, l: string) => labels[l] ?? '')];
        }),
      );
    };
    const sel = (pod: string, job = 'keyportal') => `{namespace="keys", job="${job}", pod="${pod}"}`;
    const tests = {
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          // Two web pods, neither leading (the loop is off on both), one of them not ready.
          interval: '1m',
          input_series: [
            { series: `keyportal_loop_leader${sel('keyportal-a')}`, values: '0x20' },
            { series: `keyportal_loop_leader${sel('keyportal-b')}`, values: '0x20' },
            { series: `keyportal_ready${sel('keyportal-a')}`, values: '1x20' },
            { series: `keyportal_ready${sel('keyportal-b')}`, values: '0x20' },
          ],
          alert_rule_test: [
            { eval_time: '3m', alertname: 'KeyportalLoopNotRunning', exp_alerts: [] },
            {
              eval_time: '6m',
              alertname: 'KeyportalLoopNotRunning',
              exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'keys' }, exp_annotations: expected('KeyportalLoopNotRunning', {}) }],
            },
            { eval_time: '8m', alertname: 'KeyportalNotReady', exp_alerts: [] },
            {
              eval_time: '11m',
              alertname: 'KeyportalNotReady',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', namespace: 'keys', job: 'keyportal', pod: 'keyportal-b' },
                  exp_annotations: expected('KeyportalNotReady', { pod: 'keyportal-b' }),
                },
              ],
            },
          ],
        },
        {
          // A worker leads: quiet, whatever the web pods say.
          interval: '1m',
          input_series: [
            { series: `keyportal_loop_leader${sel('keyportal-a')}`, values: '0x20' },
            { series: `keyportal_loop_leader${sel('keyportal-worker-1', 'keyportal-worker-metrics')}`, values: '1x20' },
          ],
          alert_rule_test: [{ eval_time: '15m', alertname: 'KeyportalLoopNotRunning', exp_alerts: [] }],
        },
        {
          // The sink down from minute 2: the oldest record's age grows past 10 minutes at minute 12,
          // and the alert fires two minutes later; a follower that tracks nothing does not hide it.
          interval: '1m',
          input_series: [
            { series: `keyportal_audit_oldest_seconds${sel('keyportal-a')}`, values: '0 0 0+60x20' },
            { series: `keyportal_audit_oldest_seconds${sel('keyportal-b')}`, values: '0x22' },
          ],
          alert_rule_test: [
            { eval_time: '13m', alertname: 'KeyportalAuditBacklog', exp_alerts: [] },
            {
              eval_time: '16m',
              alertname: 'KeyportalAuditBacklog',
              exp_alerts: [{ exp_labels: { severity: 'warning', namespace: 'keys' }, exp_annotations: expected('KeyportalAuditBacklog', {}) }],
            },
          ],
        },
        {
          // Nothing of this release is scraped at all (another release's leader does not count).
          interval: '1m',
          input_series: [{ series: 'keyportal_loop_leader{namespace="other", job="keyportal", pod="x"}', values: '1x20' }],
          alert_rule_test: [
            {
              eval_time: '6m',
              alertname: 'KeyportalLoopNotRunning',
              exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'keys' }, exp_annotations: expected('KeyportalLoopNotRunning', {}) }],
            },
          ],
        },
      ],
    };
    const testFile = path.join(dir, 'rules.test.yaml');
    writeFileSync(testFile, stringify(tests));
    const tested = await exec(PROMTOOL, ['test', 'rules', testFile]);
    expect(tested.code, tested.stdout + tested.stderr).toBe(0);
    expect(tested.stdout).toMatch(/SUCCESS/);
  });
});
