import type { PageJs } from './first-load-js';
import type { CeilingFigures } from './apiserver-alone';
import type { CpuReading } from './proc-cpu';
import type { IssueFigures, PostFigures, QueueFigures } from './portal/scenarios';
import { type Summary, fmtMiB, fmtMs, fmtRatio } from './stats';

export interface Run {
  buildSeconds: number;
  js: PageJs[];
  post?: PostFigures;
  /** POSTs from fewer clients at once (`1`, `10`): the portal's own latency, below the API server's ceiling. */
  postFew?: Record<string, PostFigures>;
  issue?: IssueFigures;
  paced: Record<string, Summary>;
  queue?: QueueFigures;
  noise?: { warnings: number; events: number };
  /** The API server alone (lean client), creating the same Secrets 1 and 50 at a time, measured just before this run's load. */
  ceiling?: Record<string, CeilingFigures>;
  /** CPU ms per request of each process: during the 500 POSTs, and from creation to issued and emailed (1,000 requests). */
  cpuPost?: CpuReading;
  cpuLife?: CpuReading;
}

export interface Figures {
  scale: number;
  baseline: string;
  machine: string;
  seedSeconds?: number;
  totalSeconds?: number;
  runs: Record<string, Run>;
}

const kb = (bytes: number | undefined) => (bytes === undefined ? 'n/a' : `${(bytes / 1024).toFixed(1)} kB`);
const num = (n: number | undefined, digits = 1) => (n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits));

/** The bench's numbers as Markdown tables: figures per checkout and current/baseline ratios. No conclusions. */
export function report(f: Figures): string {
  const b = f.runs.baseline;
  const c = f.runs.current;
  const ratio = (get: (r: Run) => number | undefined) => {
    const x = c && get(c);
    const y = b && get(b);
    return x !== undefined && y !== undefined && y > 0 ? fmtRatio(x / y) : 'n/a';
  };
  const few = (width: string) => (r: Run) => r.postFew?.[width];
  const bare = (width: string) => (r: Run) => r.ceiling?.[width];
  const cpu = (reading: CpuReading | undefined) => (reading ? ['portal', 'worker', 'kube-apiserver', 'etcd'].filter((k) => reading[k] !== undefined).map((k) => `${k} ${num(reading[k], 2)}`).join(' / ') : 'n/a');
  const rows: Array<[string, (r: Run) => string, (r: Run) => number | undefined]> = [
    ['API server alone (lean client): creates, 1 at a time, p50 / p99', (r) => `${fmtMs(bare('1')(r)?.latency.p50 ?? Number.NaN)} / ${fmtMs(bare('1')(r)?.latency.p99 ?? Number.NaN)}`, (r) => bare('1')(r)?.latency.p50],
    ['API server alone (lean client): creates, 50 at a time, p50 / p99, throughput', (r) => `${fmtMs(bare('50')(r)?.latency.p50 ?? Number.NaN)} / ${fmtMs(bare('50')(r)?.latency.p99 ?? Number.NaN)}, ${num(bare('50')(r)?.perSecond, 0)}/s`, (r) => bare('50')(r)?.perSecond],
    ['POST throughput ÷ the API server’s, 50 at a time (target ≥ 0.60)', (r) => num((r.post?.perSecond ?? Number.NaN) / (bare('50')(r)?.perSecond ?? Number.NaN), 2), (r) => (r.post?.perSecond ?? Number.NaN) / (bare('50')(r)?.perSecond ?? Number.NaN)],
    ['POST p99 ÷ the API server’s p99, 50 at a time (target ≤ 2)', (r) => num((r.post?.latency.p99 ?? Number.NaN) / (bare('50')(r)?.latency.p99 ?? Number.NaN), 2), (r) => (r.post?.latency.p99 ?? Number.NaN) / (bare('50')(r)?.latency.p99 ?? Number.NaN)],
    ['POST p50 − the API server’s p50, 1 at a time (target ≤ 3 ms)', (r) => fmtMs((few('1')(r)?.latency.p50 ?? Number.NaN) - (bare('1')(r)?.latency.p50 ?? Number.NaN)), (r) => (few('1')(r)?.latency.p50 ?? Number.NaN) - (bare('1')(r)?.latency.p50 ?? Number.NaN)],
    ['CPU ms per request during the 500 POSTs (portal / worker / kube-apiserver / etcd)', (r) => cpu(r.cpuPost), (r) => r.cpuPost?.portal],
    ['CPU ms per request, creation to issued and emailed (target portal ≤ 4, kube-apiserver ≤ 4)', (r) => cpu(r.cpuLife), (r) => r.cpuLife?.portal],
    ['POST /api/requests p50 / p99, 1 at a time (100 users)', (r) => `${fmtMs(few('1')(r)?.latency.p50 ?? Number.NaN)} / ${fmtMs(few('1')(r)?.latency.p99 ?? Number.NaN)}`, (r) => few('1')(r)?.latency.p99],
    ['POST /api/requests p50 / p99, 10 at a time (300 users)', (r) => `${fmtMs(few('10')(r)?.latency.p50 ?? Number.NaN)} / ${fmtMs(few('10')(r)?.latency.p99 ?? Number.NaN)}`, (r) => few('10')(r)?.latency.p99],
    ['POST /api/requests p50 (500 users, 50 at a time)', (r) => fmtMs(r.post?.latency.p50 ?? Number.NaN), (r) => r.post?.latency.p50],
    ['POST /api/requests p99', (r) => fmtMs(r.post?.latency.p99 ?? Number.NaN), (r) => r.post?.latency.p99],
    ['… p99 of those sent on connections already open (the rest waited for Node to accept theirs)', (r) => fmtMs(r.post?.openConnections?.p99 ?? Number.NaN), (r) => r.post?.openConnections?.p99],
    ['POST /api/requests throughput', (r) => `${num(r.post?.perSecond)} req/s`, (r) => r.post?.perSecond],
    ['1,000 requests, first POST to all issued', (r) => `${num(r.issue?.wallSeconds)} s (${r.issue?.issued ?? 0} issued)`, (r) => r.issue?.wallSeconds],
    ['creation → issued p50 at 10/s', (r) => fmtMs(r.paced['10/s']?.p50 ?? Number.NaN), (r) => r.paced['10/s']?.p50],
    ['creation → issued p99 at 10/s', (r) => fmtMs(r.paced['10/s']?.p99 ?? Number.NaN), (r) => r.paced['10/s']?.p99],
    ['creation → issued p50 at 50/s', (r) => fmtMs(r.paced['50/s']?.p50 ?? Number.NaN), (r) => r.paced['50/s']?.p50],
    ['creation → issued p99 at 50/s', (r) => fmtMs(r.paced['50/s']?.p99 ?? Number.NaN), (r) => r.paced['50/s']?.p99],
    ['Secret API calls per request (creation to emailed)', (r) => `${num(r.issue?.secretCallsPerRequest)} (${Object.entries(r.issue?.secretCallsByVerb ?? {}).map(([v, n]) => `${v} ${n.toFixed(1)}`).join(', ')})`, (r) => r.issue?.secretCallsPerRequest],
    ['Event writes per request', (r) => num(r.issue?.eventsPerRequest), (r) => r.issue?.eventsPerRequest],
    ['TLS handshakes per API call (portal processes)', (r) => num(r.issue?.tlsPerApiCall, 3), (r) => r.issue?.tlsPerApiCall],
    [`GET /api/approvals?state=all, ${f.scale.toLocaleString('en')} stored`, (r) => `${fmtMs(r.queue?.apiMs ?? Number.NaN)}, ${kb(r.queue?.apiBytes)}`, (r) => r.queue?.apiMs],
    [`/approvals page, ${f.scale.toLocaleString('en')} stored`, (r) => `${fmtMs(r.queue?.pageMs ?? Number.NaN)}, ${kb(r.queue?.pageBytes)}`, (r) => r.queue?.pageMs],
    [`server RSS after the queue, ${f.scale.toLocaleString('en')} stored`, (r) => fmtMiB(r.queue?.rss ?? Number.NaN), (r) => r.queue?.rss],
    ['2,000 unparseable Secrets, 30 s, resync 5 s: warning log lines', (r) => String(r.noise?.warnings ?? 'n/a'), (r) => r.noise?.warnings],
    ['… and Warning Events recorded', (r) => String(r.noise?.events ?? 'n/a'), () => undefined],
  ];
  for (const page of (c ?? b)?.js ?? []) {
    rows.push([`first-load JS ${page.page} (gzip, what Chromium fetches)`, (r) => kb(r.js.find((p) => p.page === page.page)?.gzipBytes), (r) => r.js.find((p) => p.page === page.page)?.gzipBytes]);
  }
  // The loop in a worker process: the load figures only (its queue and pages are `current`'s).
  const w = f.runs['current-worker'];
  const loadRows = 20;
  const workerCells = (i: number, show: (r: Run) => string, value: (r: Run) => number | undefined) => {
    if (!w) return '';
    if (i >= loadRows) return '  |  |';
    const x = value(w);
    const y = b && value(b);
    return ` ${show(w)} | ${x !== undefined && y !== undefined && y > 0 ? fmtRatio(x / y) : 'n/a'} |`;
  };
  const lines = [
    `Run of ${new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')} on ${f.machine}; baseline = commit ${f.baseline}; ${f.scale.toLocaleString('en')} stored requests seeded in ${num(f.seedSeconds, 0)} s; whole run ${num(f.totalSeconds, 0)} s.`,
    '',
    `| figure | baseline | current | current / baseline |${w ? ' current, loop in a worker process | worker / baseline |' : ''}`,
    `|---|---:|---:|---:|${w ? '---:|---:|' : ''}`,
    ...rows.map(([label, show, value], i) => `| ${label} | ${b ? show(b) : 'n/a'} | ${c ? show(c) : 'n/a'} | ${ratio(value)} |${workerCells(i, show, value)}`),
  ];
  return lines.join('\n');
}
