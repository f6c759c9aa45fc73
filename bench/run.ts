/**
 * `npm run bench`: the portal as users and operators meet it, today's committed code (the
 * baseline) and the working tree side by side in one run, on the real test cluster with the
 * LiteLLM-compatible test gateway and a real SMTP server, all on 127.0.0.1; the working tree
 * also with its loop in a worker process (the chart's `worker.enabled`). Load figures first, then
 * the stored requests are seeded for the queue figures. Writes the numbers between the markers
 * in docs/BENCHMARKS.md (the prose around them is written by a person).
 *
 * Environment: BENCH_BASELINE (a commit; default the one before the cache work), BENCH_SCALE
 * (stored requests for the queue figures: 10000, or 100000 for the document), BENCH_WRITE (1; 0
 * leaves the document alone), BENCH_ONLY (comma list of baseline,current,current-worker), BENCH_CURRENT (the
 * checkout measured as current; default this one: a built copy keeps a shared checkout's .next
 * out of it), KEYPORTAL_CLUSTER_DIR.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import path from 'node:path';
import { clusterUp, freshNamespace } from './cluster';
import { startStandIns } from './stand-ins';
import { firstLoadJs } from './first-load-js';
import { type Portal, buildOnce, startPortal, stopPortal } from './portal/server';
import { drained, fewClients, malformedNoise, pacedToIssued, postLoad, queueFirstPage, queueHolds, seed, toIssued } from './portal/scenarios';
import { type Figures, type Run, report } from './report';
import { apiServerCreates } from './apiserver-alone';
import { clusterPids, cpuPerRequest, readCpu } from './proc-cpu';

const repo = path.resolve(import.meta.dirname, '..');
const BASELINE = process.env.BENCH_BASELINE ?? '799723b';
const SCALE = Number(process.env.BENCH_SCALE ?? 10_000);
const ONLY = (process.env.BENCH_ONLY ?? 'baseline,current,current-worker').split(',');
const say = (s: string) => process.stderr.write(`bench: ${s}\n`);

/** The baseline commit in a worktree of its own beside the checkout, sharing node_modules. */
function baselineCheckout(): string {
  const dir = path.join(tmpdir(), `keyportal-bench-${BASELINE}`);
  if (!existsSync(path.join(dir, 'package.json'))) {
    execFileSync('git', ['worktree', 'add', '--force', '--detach', dir, BASELINE], { cwd: repo, stdio: 'ignore' });
  }
  // A hard-linked copy, not a symlink: Turbopack resolves nothing outside the project's root.
  const modules = path.join(dir, 'node_modules');
  if (!existsSync(path.join(modules, 'next/package.json')) || lstatSync(modules).isSymbolicLink()) {
    execFileSync('rm', ['-rf', path.join(dir, 'node_modules')]);
    execFileSync('cp', ['-al', path.join(repo, 'node_modules'), path.join(dir, 'node_modules')]);
  }
  return dir;
}

interface Variant {
  name: 'baseline' | 'current' | 'current-worker';
  dir: string;
  /** The loop in a process of its own, as the chart's worker Deployment runs it. */
  worker: boolean;
}

/**
 * Each variant's load figures: POST, 1,000 to issued, creation to issued at 10/s and 50/s. Run
 * before the stored requests are seeded: 100,000 extra Secrets make every API call slower, for
 * every variant alike (bench/probe.ts measures the load on a seeded cluster).
 */
async function load(v: Variant, port: number, kc: Parameters<typeof freshNamespace>[0], kubeconfig: string, work: string): Promise<Pick<Run, 'post' | 'postFew' | 'issue' | 'paced' | 'ceiling' | 'cpuPost' | 'cpuLife'>> {
  const env = await startStandIns();
  const namespace = await freshNamespace(kc, `bench-${v.name}`);
  let portal: Portal | undefined;
  const paced: Run['paced'] = {};
  // The API server alone, just before this variant's load, in a namespace of its own: the ceiling
  // its figures are ratios to (bench/apiserver-alone.ts).
  say(`${v.name}: the API server alone, lean client, 1 then 50 at a time`);
  const bare = await freshNamespace(kc, `bench-bare-${v.name}`);
  const ceiling = { '1': await apiServerCreates(kc, bare, 200, 1, `bare1-${v.name}`), '50': await apiServerCreates(kc, bare, 1000, 50, `bare50-${v.name}`) };
  try {
    portal = await startPortal({ checkout: v.dir, name: v.name, port, namespace, kubeconfig, gatewayUrl: env.gateway.url, smtp: env.smtp.address, workDir: work, loop: true, worker: v.worker });
    await postLoad(portal, `warm-${v.name}`, 20, 10);
    say(`${v.name}: POST, 100 users one at a time, then 300 ten at a time`);
    const postFew = await fewClients(portal, kc, namespace, v.name);
    const pids = { portal: portal.child.pid, worker: portal.worker?.pid, 'kube-apiserver': clusterPids().apiserver, etcd: clusterPids().etcd };
    say(`${v.name}: POST, 500 users, 50 at a time`);
    // CPU of the POST alone: from the first POST to the last answer (the loop, in the same
    // process unless a worker runs it, works meanwhile too; the worker's own row says how much).
    const postCpu0 = readCpu(pids);
    const post = await postLoad(portal, `post-${v.name}`, 500, 50);
    const cpuPost = cpuPerRequest(postCpu0, readCpu(pids), 500);
    // Let the loop finish those before the next figure starts counting calls.
    await drained(kc, namespace, 120_000);
    say(`${v.name}: 1,000 requests to issued`);
    const lifeCpu0 = readCpu(pids);
    const issue = await toIssued(portal, kc, namespace, `issue-${v.name}`, 1000);
    await drained(kc, namespace, 120_000);
    const cpuLife = cpuPerRequest(lifeCpu0, readCpu(pids), 1000);
    for (const rate of [10, 50]) {
      say(`${v.name}: creation to issued at ${rate}/s`);
      paced[`${rate}/s`] = await pacedToIssued(portal, kc, namespace, `paced${rate}-${v.name}`, rate === 10 ? 150 : 500, rate);
    }
    return { post, postFew, issue, paced, ceiling, cpuPost, cpuLife };
  } finally {
    if (portal) await stopPortal(portal);
    await env.stop();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const { kubeconfig, kc, stop: stopCluster } = clusterUp();
  const work = mkdtempSync(path.join(tmpdir(), 'keyportal-bench-'));
  const current = process.env.BENCH_CURRENT ?? repo;
  const variants: Variant[] = (
    [
      { name: 'baseline', dir: baselineCheckout(), worker: false },
      { name: 'current', dir: current, worker: false },
      { name: 'current-worker', dir: current, worker: true },
    ] as const
  ).filter((v) => ONLY.includes(v.name));
  const figures: Figures = { scale: SCALE, baseline: BASELINE, runs: {}, machine: `${cpus().length} CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB, Node.js ${process.version}` };
  try {
    for (const [i, v] of variants.entries()) {
      say(`${v.name}: next build`);
      const buildSeconds = buildOnce(v.dir);
      figures.runs[v.name] = { buildSeconds, js: firstLoadJs(v.dir), ...(await load(v, 3300 + i * 10, kc, kubeconfig, work)) };
    }
    // One namespace of stored requests for the queue figures, read by each portal in turn.
    const stored = await freshNamespace(kc, 'bench-stored');
    say(`seeding ${SCALE} stored requests in ${stored}`);
    const seedStart = Date.now();
    await seed(kc, stored, SCALE);
    figures.seedSeconds = (Date.now() - seedStart) / 1000;
    for (const [i, v] of variants.entries()) {
      if (v.worker) continue; // the same code as `current`: its queue is the web server's
      const port = 3300 + i * 10;
      const run = figures.runs[v.name] as Run;
      say(`${v.name}: the queue with ${SCALE} stored`);
      const reader = await startPortal({ checkout: v.dir, name: `${v.name}-queue`, port: port + 1, namespace: stored, kubeconfig, gatewayUrl: 'http://127.0.0.1:9', smtp: { host: '127.0.0.1', port: 9 }, workDir: work, loop: false });
      try {
        await queueHolds(reader, SCALE);
        run.queue = await queueFirstPage(reader, SCALE);
      } finally {
        await stopPortal(reader);
      }
      say(`${v.name}: 2,000 Secrets that do not parse, 30 s`);
      const noisy = await freshNamespace(kc, `bench-noise-${v.name}`);
      const quiet = await startStandIns();
      const watcher = await startPortal({ checkout: v.dir, name: `${v.name}-noise`, port: port + 2, namespace: noisy, kubeconfig, gatewayUrl: quiet.gateway.url, smtp: quiet.smtp.address, workDir: work, loop: true, resyncSeconds: 5 });
      const warnLines = () => readFileSync(watcher.log, 'utf8').split('\n').filter((l) => l.includes('"level":"warn"') && /malformed/i.test(l)).length;
      try {
        run.noise = await malformedNoise(watcher, kc, noisy, 2000, 30, warnLines);
      } finally {
        await stopPortal(watcher);
        await quiet.stop();
      }
    }
  } finally {
    stopCluster();
  }
  figures.totalSeconds = (Date.now() - started) / 1000;
  const markdown = report(figures);
  process.stdout.write(`${markdown}\n`);
  if (process.env.BENCH_WRITE !== '0') {
    const doc = path.join(repo, 'docs/BENCHMARKS.md');
    mkdirSync(path.dirname(doc), { recursive: true });
    const text = existsSync(doc) ? readFileSync(doc, 'utf8') : '';
    const [begin, end] = ['<!-- bench:begin -->', '<!-- bench:end -->'];
    const next = text.includes(begin) && text.includes(end) ? `${text.slice(0, text.indexOf(begin) + begin.length)}\n${markdown}\n${text.slice(text.indexOf(end))}` : `${text}\n${begin}\n${markdown}\n${end}\n`;
    writeFileSync(doc, next);
    say('wrote docs/BENCHMARKS.md');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
