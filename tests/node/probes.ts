// Scripts the node suite runs inside a portal pod with `node -e` (the image has node and little
// else), each printing one JSON object.

/** Who the process runs as and what it may do: uid/gid, a write to /, effective capabilities, no_new_privs. */
export const SECURITY_PROBE = `
const fs = require('node:fs');
let rootWritable = 'writable';
try { fs.writeFileSync('/probe-' + process.pid, 'x'); fs.unlinkSync('/probe-' + process.pid); } catch (e) { rootWritable = e.code; }
const status = fs.readFileSync('/proc/self/status', 'utf8');
console.log(JSON.stringify({
  uid: process.getuid(), gid: process.getgid(), rootWritable,
  capEff: /CapEff:\\s*(\\w+)/.exec(status)[1], noNewPrivs: /NoNewPrivs:\\s*(\\d)/.exec(status)[1],
}));`;

/**
 * The pod's own ServiceAccount token against the API server, the way the portal reaches it
 * (KUBERNETES_SERVICE_HOST, the mounted CA): the HTTP status of each call. __NS__ and __REQ_NS__
 * are replaced with the release's and the requests' namespaces.
 */
export const RBAC_PROBE = `
const fs = require('node:fs'), https = require('node:https');
const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
const token = fs.readFileSync(dir + '/token', 'utf8'), ca = fs.readFileSync(dir + '/ca.crt');
const host = process.env.KUBERNETES_SERVICE_HOST, port = process.env.KUBERNETES_SERVICE_PORT;
const call = (method, path, body) => new Promise((resolve, reject) => {
  const req = https.request({ host, port, method, path, ca, headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
  req.on('error', reject);
  req.end(body ? JSON.stringify(body) : undefined);
});
const pod = { metadata: { name: 'probe' }, spec: { containers: [{ name: 'c', image: 'x' }] } };
(async () => {
  const out = {};
  out['list secrets in the requests namespace'] = await call('GET', '/api/v1/namespaces/__REQ_NS__/secrets?limit=1');
  out['read the release namespace’s secrets (the portal’s own credentials)'] = await call('GET', '/api/v1/namespaces/__NS__/secrets/keyportal-secrets');
  out['list secrets in kube-system'] = await call('GET', '/api/v1/namespaces/kube-system/secrets');
  out['create a pod in the requests namespace'] = await call('POST', '/api/v1/namespaces/__REQ_NS__/pods', pod);
  out['list nodes'] = await call('GET', '/api/v1/nodes');
  out['read a Lease other than its own'] = await call('GET', '/apis/coordination.k8s.io/v1/namespaces/__REQ_NS__/leases/someone-else');
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e.message); process.exit(1); });`;
