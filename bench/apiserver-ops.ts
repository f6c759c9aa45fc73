/**
 * `npx tsx bench/apiserver-ops.ts`: what each kind of call a request's life makes costs the API
 * server (and etcd), in CPU from /proc, measured alone: a create, a conditional merge patch
 * (the loop's writes), the same change as a conditional PUT, an Event, a GET. For deciding which
 * write is worth folding or changing; not for the document's side-by-side table.
 *
 * Three rounds, each with fresh Secrets, and the median of the three per kind of call: the API
 * server now and then spends a few hundred ms on housekeeping, which one round alone would charge
 * to whichever call it fell on. OPS_N calls of each (default 600), 10 at a time over kept-alive
 * connections, with OPS_WATCHERS watches open on the namespace (default 2: the web server's cache
 * and the loop's, as in a worker deployment), in a fresh namespace deleted at the end. Bodies are shaped like the
 * loop's: the approve patch carries the decision and the plugins' trace, the issue patch the key.
 */
import https from 'node:https';
import { newRequestId, rfc3339 } from '@/lib/domain/key-request';
import { encodeNewRequest } from '@/lib/store/secret-codec';
import { clusterUp, freshNamespace } from './cluster';
import { pool } from './portal/clients';
import { clusterPids, readCpu } from './proc-cpu';
import { median } from './stats';

const N = Number(process.env.OPS_N ?? 600);
const WATCHERS = Number(process.env.OPS_WATCHERS ?? 2);
const WIDTH = 10;

interface Answer {
  status: number;
  text: string;
}
interface Stored {
  metadata: { name: string; resourceVersion: string; labels?: Record<string, string>; annotations?: Record<string, string>; managedFields?: unknown };
}

const { kc, stop } = clusterUp();
const namespace = await freshNamespace(kc, 'ops');
const server = new URL(kc.getCurrentCluster()?.server as string);
const tls: https.RequestOptions = {};
await kc.applyToHTTPSOptions(tls);
const authorization = (tls.headers as Record<string, string> | undefined)?.Authorization ?? '';
const agent = new https.Agent({ keepAlive: true, maxSockets: WIDTH, ca: tls.ca, cert: tls.cert, key: tls.key });

function call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Answer> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { authorization, accept: 'application/json' };
  if (text) Object.assign(headers, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(text)) });
  return new Promise((resolve) => {
    const req = https.request({ host: server.hostname, port: server.port, path, method, agent, headers }, (res) => {
      let answer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (answer += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: answer }));
    });
    req.on('error', (err) => resolve({ status: 0, text: err.message }));
    req.end(text);
  });
}

// Watches that read and drop every event: the API server pays for each watcher it fans out to.
const watchAgent = new https.Agent({ keepAlive: false, ca: tls.ca, cert: tls.cert, key: tls.key });
for (let i = 0; i < WATCHERS; i++) {
  https.get({ host: server.hostname, port: server.port, path: `/api/v1/namespaces/${namespace}/secrets?watch=true`, agent: watchAgent, headers: { authorization, accept: 'application/json' } }, (res) => res.resume());
}
await new Promise((r) => setTimeout(r, 500));

const pids = { 'kube-apiserver': clusterPids().apiserver, etcd: clusterPids().etcd };
const secrets = `/api/v1/namespaces/${namespace}/secrets`;
const latest = new Map<string, Stored>();
const remember = (a: Answer): Answer => {
  if (a.status < 300) {
    const s = JSON.parse(a.text) as Stored;
    delete s.metadata.managedFields;
    latest.set(s.metadata.name, s);
  }
  return a;
};

const figures = new Map<string, { apiserver: number[]; etcd: number[]; perSecond: number[]; failed: number }>();

async function measure(what: string, op: (name: string) => Promise<Answer>, names: string[]): Promise<void> {
  const before = readCpu(pids);
  const t0 = performance.now();
  const failed = (await pool(names, WIDTH, op)).filter((a) => a.status >= 300).length;
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 300));
  const after = readCpu(pids);
  const per = (k: string) => ((after[k] ?? 0) - (before[k] ?? 0)) / names.length;
  const f = figures.get(what) ?? { apiserver: [], etcd: [], perSecond: [], failed: 0 };
  f.apiserver.push(per('kube-apiserver'));
  f.etcd.push(per('etcd'));
  f.perSecond.push(names.length / seconds);
  f.failed += failed;
  figures.set(what, f);
}

const rv = (name: string) => latest.get(name)?.metadata.resourceVersion;
const mergePatch = (name: string, body: object) => call('PATCH', `${secrets}/${name}`, body, 'application/merge-patch+json').then(remember);
const trace = JSON.stringify([{ plugin: 'whitelist', outcome: 'approve', reason: 'model gpt-4o matches "gpt-*"', ms: 0 }]);

for (let round = 0; round < 3; round++) {
  const bodies = Array.from({ length: N }, (_, i) => encodeNewRequest({ id: newRequestId(), email: `u${i}-r${round}@bench.example.com`, model: 'gpt-4o', createdAt: rfc3339(new Date()) }));
  const names = bodies.map((b) => b.metadata.name);
  const byName = new Map(bodies.map((b) => [b.metadata.name, b]));
  await measure('create (POST)', (name) => call('POST', secrets, byName.get(name)).then(remember), names);
  await measure('merge patch, approve', (name) => mergePatch(name, { metadata: { resourceVersion: rv(name), labels: { 'keyportal.dev/state': 'approved' }, annotations: { 'keyportal.dev/decided-at': rfc3339(new Date()), 'keyportal.dev/decided-by': 'plugin:whitelist', 'keyportal.dev/reason': 'model gpt-4o matches "gpt-*"', 'keyportal.dev/trace': trace } } }), names);
  await measure('merge patch, issue (with the key)', (name) => mergePatch(name, { metadata: { resourceVersion: rv(name), labels: { 'keyportal.dev/state': 'issued' }, annotations: { 'keyportal.dev/issued-at': rfc3339(new Date()), 'keyportal.dev/notified': 'issued' } }, data: { key: Buffer.from(`sk-${'x'.repeat(40)}`).toString('base64') } }), names);
  await measure('merge patch, one annotation', (name) => mergePatch(name, { metadata: { resourceVersion: rv(name), annotations: { 'keyportal.dev/observed': '{"state":"issued"}' } } }), names);
  await measure('PUT, one annotation', (name) => {
    const s = latest.get(name) as Stored;
    return call('PUT', `${secrets}/${name}`, { ...s, metadata: { ...s.metadata, annotations: { ...s.metadata.annotations, 'keyportal.dev/observed': '{"state":"issued","n":2}' } } }).then(remember);
  }, names);
  await measure('Event (core/v1 POST)', (name) => call('POST', `/api/v1/namespaces/${namespace}/events`, { metadata: { name: `${name}.issued` }, involvedObject: { kind: 'Secret', apiVersion: 'v1', namespace, name }, reason: 'Issued', message: 'key issued for gpt-4o', type: 'Normal', source: { component: 'keyportal' }, firstTimestamp: rfc3339(new Date()), lastTimestamp: rfc3339(new Date()), count: 1 }), names);
  await measure('GET', (name) => call('GET', `${secrets}/${name}`), names);
}

console.log(`${N} calls of each, ${WIDTH} at a time, ${WATCHERS} watchers on the namespace; CPU per call, median of 3 rounds (the rounds' values in brackets):`);
for (const [what, f] of figures) {
  const ms = (xs: number[]) => `${median(xs).toFixed(2)} ms [${xs.map((x) => x.toFixed(2)).join(' ')}]`;
  console.log(`${what.padEnd(34)} kube-apiserver ${ms(f.apiserver)}  etcd ${ms(f.etcd)}  ${median(f.perSecond).toFixed(0)}/s${f.failed ? `  ${f.failed} FAILED` : ''}`);
}

agent.destroy();
watchAgent.destroy();
await call('DELETE', `/api/v1/namespaces/${namespace}`);
stop();
