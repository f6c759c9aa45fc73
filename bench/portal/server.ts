import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { MASTER_KEY, TEST_MODELS, TEST_PLUGINS, stopProcess, waitForReady } from '@/tests/helpers/portal';

/** One portal under bench: a production build in a checkout, `next start` with the loop inside. */
export interface Portal {
  name: string;
  url: string;
  child: ChildProcess;
  secret: string;
  tlsFile: string;
  log: string;
  /** The approval loop's own process, when it runs apart from the web server (the chart's worker). */
  worker?: ChildProcess;
}

export interface PortalSetup {
  checkout: string;
  name: string;
  port: number;
  namespace: string;
  kubeconfig: string;
  gatewayUrl: string;
  smtp: { host: string; port: number };
  workDir: string;
  loop: boolean;
  /** The loop in a process of its own (`node dist/worker.mjs`, as the chart's worker Deployment runs it), not in the web server. */
  worker?: boolean;
  resyncSeconds?: number;
  /** Node flags for the portal process (a CPU profile: not allowed in NODE_OPTIONS). */
  nodeArgs?: string[];
}

/** `next build` in a checkout, unless it holds a build already. Returns seconds taken (0 if reused). */
export function buildOnce(checkout: string): number {
  if (existsSync(path.join(checkout, '.next/BUILD_ID'))) return 0;
  const t = Date.now();
  execFileSync(process.execPath, [path.join(checkout, 'node_modules/next/dist/bin/next'), 'build'], { cwd: checkout, stdio: 'ignore', env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' } });
  return (Date.now() - t) / 1000;
}

export async function startPortal(s: PortalSetup): Promise<Portal> {
  const url = `http://127.0.0.1:${s.port}`;
  const config = {
    portal: { publicUrl: url, title: 'Keyportal', rateLimit: { requests: 100, windowSeconds: 3600 } },
    models: TEST_MODELS,
    approvals: { default: 'review', notify: ['approvers@example.com'], plugins: TEST_PLUGINS, approvers: { emails: ['approver@bench.example.com'], groups: [] } },
    gateway: { type: 'litellm', baseUrl: s.gatewayUrl, publicUrl: 'https://llm.example.com', timeoutMs: 5000 },
    mail: { from: 'Keyportal <keys@example.com>', keyDelivery: 'email', smtp: { host: s.smtp.host, port: s.smtp.port, security: 'none', ...(process.env.BENCH_SMTP_CONNECTIONS ? { maxConnections: Number(process.env.BENCH_SMTP_CONNECTIONS) } : {}) } },
    store: { type: 'kubernetes', namespace: s.namespace, kubeconfig: s.kubeconfig },
    loop: { enabled: s.loop, leaderElection: true, resyncSeconds: s.resyncSeconds ?? 60 },
    // How long audit records settle before they ship and are acknowledged (one write a request):
    // set past a run's length, the run measures a life without that write (bench/probe.ts `life`).
    ...(process.env.BENCH_AUDIT_SETTLE_SECONDS ? { audit: { settleSeconds: Number(process.env.BENCH_AUDIT_SETTLE_SECONDS) } } : {}),
  };
  const file = path.join(s.workDir, `${s.name}-config.yaml`);
  writeFileSync(file, stringify(config));
  const secret = 'bench-session-secret-0123456789abcdef0123';
  const tlsFile = path.join(s.workDir, `${s.name}-tls.count`);
  const log = path.join(s.workDir, `${s.name}.log`);
  const out = createWriteStream(log);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    NODE_ENV: 'production',
    NEXT_TELEMETRY_DISABLED: '1',
    NODE_OPTIONS: `--import ${path.join(import.meta.dirname, 'tls-counter.mjs')}`,
    BENCH_TLS_COUNT_FILE: tlsFile,
    KEYPORTAL_CONFIG: file,
    GATEWAY_MASTER_KEY: MASTER_KEY,
    NEXTAUTH_SECRET: secret,
    KEYPORTAL_DEV_SIGNIN: 'true',
    // The loop's workers, for trying another setting (bench/probe.ts); the config's default otherwise.
    ...(process.env.BENCH_CONCURRENCY ? { KEYPORTAL_CONCURRENCY: process.env.BENCH_CONCURRENCY } : {}),
  };
  const child = spawn(process.execPath, [...(s.nodeArgs ?? []), path.join(s.checkout, 'node_modules/next/dist/bin/next'), 'start', '-p', String(s.port), '-H', '127.0.0.1'], {
    cwd: s.checkout,
    env: s.worker ? { ...env, KEYPORTAL_LOOP_ENABLED: 'false' } : env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  await waitForReady(url, child, log, 120_000);
  if (!s.worker) return { name: s.name, url, child, secret, tlsFile, log };
  // The web server serves only; the worker, with the same config and secrets, runs the loop.
  if (!existsSync(path.join(s.checkout, 'dist/worker.mjs'))) execFileSync('npm', ['run', '--silent', 'build:worker'], { cwd: s.checkout, stdio: 'ignore' });
  const worker = spawn(process.execPath, [...(s.nodeArgs ?? []), path.join(s.checkout, 'dist/worker.mjs')], { cwd: s.checkout, env: { ...env, BENCH_TLS_COUNT_FILE: `${tlsFile}.worker` }, stdio: ['ignore', 'pipe', 'pipe'] });
  worker.stdout?.pipe(out);
  worker.stderr?.pipe(out);
  return { name: s.name, url, child, secret, tlsFile, log, worker };
}

export async function stopPortal(p: Portal): Promise<void> {
  if (p.worker) await stopProcess(p.worker);
  await stopProcess(p.child);
}

/** TLS connections the portal's processes (web server, and worker if any) have opened so far. */
export function tlsCount(p: Portal): number {
  const read = (file: string) => {
    try {
      return Number(readFileSync(file, 'utf8')) || 0;
    } catch {
      return 0;
    }
  };
  return read(p.tlsFile) + (p.worker ? read(`${p.tlsFile}.worker`) : 0);
}

/** Resident memory of the portal: `next start` serves from its own process or a child it forks. */
export function rssBytes(p: Portal): number {
  const pids = [p.child.pid as number, ...childrenOf(p.child.pid as number)];
  return Math.max(...pids.map((pid) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  }));
}

/** The node processes a process has forked (`next start` serves from one). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && readlinkSync(`/proc/${entry}/exe`).includes('node')) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
