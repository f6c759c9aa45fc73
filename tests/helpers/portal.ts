import { type ChildProcess, spawn } from 'node:child_process';
import { AUDIT_SECRET } from './audit-collector';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { parseConfig, type Config } from '@/lib/config/load';
import { checkPluginEntry } from '@/plugins';

export const MASTER_KEY = 'sk-test-master-key-0000';

export interface TestSetup {
  store: { type: 'kubernetes'; namespace: string; kubeconfig: string } | { type: 'local'; dir: string };
  gatewayUrl: string;
  smtp: { host: string; port: number };
  plugins?: Array<{ name: string; config: Record<string, unknown> }>;
  approvalsDefault?: 'deny' | 'review';
  keyDelivery?: 'email' | 'portal';
  notify?: string[];
  leaderElection?: boolean;
  loop?: Record<string, unknown>;
  /** More of `approvals` (policies, policyFor, approvers, webhook). */
  approvals?: Record<string, unknown>;
  /** The catalog, when a test needs its own (policies per model). */
  models?: Array<Record<string, unknown>>;
  /** `chat` (Slack), pointed at the Slack double. */
  chat?: Record<string, unknown>;
  /** `lifecycle` (spend alerts, top-up ceilings, renewal sizing). */
  lifecycle?: Record<string, unknown>;
  /** Where the audit trail goes: the test's collector (tests/helpers/audit-collector.ts); more of `audit` beside. */
  auditUrl?: string;
  audit?: Record<string, unknown>;
  /** `store.retention`. */
  retention?: Record<string, unknown>;
}

/** The catalog every loop test uses. */
export const TEST_MODELS = [
  { id: 'gpt-4o', title: 'GPT-4o', limits: { duration: '30d', max_budget: 10, budget_duration: '30d', rpm_limit: 60, tpm_limit: 1000 } },
  { id: 'gpt-4o-mini', title: 'GPT-4o mini' },
  { id: 'anthropic/claude-3', title: 'Claude 3' },
  { id: 'internal/secret-model', title: 'Internal <b>secret</b> model' },
  { id: 'experimental', title: 'Experimental' },
];

/** The chain every loop test and the bench use: internal models closed, the rest by whitelist. */
export const TEST_PLUGINS = [
  { name: 'blacklist', config: { models: ['internal/*'], reason: 'Internal models are closed.' } },
  { name: 'whitelist', config: { models: ['gpt-4o', 'gpt-4o-mini', 'anthropic/*'] } },
];

export function configDocument(s: TestSetup): Record<string, unknown> {
  return {
    portal: { publicUrl: 'http://portal.test:3000' },
    models: s.models ?? TEST_MODELS,
    approvals: {
      default: s.approvalsDefault ?? 'review',
      notify: s.notify ?? ['approvers@example.com'],
      plugins: s.plugins ?? TEST_PLUGINS,
      // The approvers the tests' signed-in users are (the portal derives User.approver from this).
      approvers: { emails: ['admin@example.com', 'approver@example.com'], groups: ['approvers'] },
      ...(s.approvals ?? {}),
    },
    gateway: { type: 'litellm', baseUrl: s.gatewayUrl, publicUrl: 'https://llm.example.com', timeoutMs: 2000 },
    mail: { from: 'Keyportal <keys@example.com>', keyDelivery: s.keyDelivery ?? 'email', smtp: { host: s.smtp.host, port: s.smtp.port, security: 'none' } },
    store: s.retention ? { ...s.store, retention: s.retention } : s.store,
    ...(s.auditUrl ? { audit: { sink: 'http', http: { url: s.auditUrl, timeoutSeconds: 2 }, settleSeconds: 0.2, ...(s.audit ?? {}) } } : {}),
    ...(s.chat ? { chat: s.chat } : {}),
    ...(s.lifecycle ? { lifecycle: s.lifecycle } : {}),
    loop: {
      leaderElection: s.leaderElection ?? false,
      resyncSeconds: 5,
      concurrency: 4,
      retry: { initialSeconds: 0.2, maxSeconds: 1 },
      notifyClaimSeconds: 3,
      kubectlGraceSeconds: 1,
      ...(s.loop ?? {}),
    },
  };
}

export const testEnv = (): Record<string, string> => ({ GATEWAY_MASTER_KEY: MASTER_KEY, KEYPORTAL_AUDIT_SECRET: AUDIT_SECRET });

export function testConfig(s: TestSetup): Config {
  return parseConfig(configDocument(s), { source: 'test', env: testEnv(), checkPlugin: checkPluginEntry });
}

/** Writes config.yaml to a fresh folder and returns its path, for worker processes. */
export function writeConfigFile(s: TestSetup): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyportal-cfg-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, stringify(configDocument(s)));
  return file;
}

const repo = path.resolve(import.meta.dirname, '../..');

export interface WorkerProcess {
  child: ChildProcess;
  /** The last few KB it wrote to stderr, for failure messages. */
  stderr(): string;
}

/** `npm run worker` as a separate process, the way it runs in production. */
export function spawnWorker(configFile: string, extraEnv: Record<string, string> = {}): WorkerProcess {
  const env = { NODE_ENV: 'production' as const, PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', KEYPORTAL_CONFIG: configFile, KEYPORTAL_LOG: 'silent', ...testEnv(), ...extraEnv };
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'lib/worker.ts')], {
    cwd: repo,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr?.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  });
  return { child, stderr: () => tail };
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * SIGTERM, as Kubernetes stops a pod, then SIGKILL if it has not exited within `graceMs`.
 * Resolves once it has exited: true if it did so on its own.
 */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  let killed = false;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, graceMs);
  await exited(child);
  clearTimeout(timer);
  return !killed;
}

export async function stopWorker({ child }: WorkerProcess): Promise<void> {
  await stopProcess(child);
}

/** Polls a portal's /api/readyz until it answers 200; fails at once if the process exits, or after `timeoutMs`. */
export async function waitForReady(url: string, child: ChildProcess, log: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the portal at ${url} exited with ${child.exitCode}; see ${log}`);
    try {
      if ((await fetch(`${url}/api/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the portal at ${url} was not ready within ${timeoutMs / 1000} s; see ${log}`);
}
