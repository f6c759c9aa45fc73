import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A throwaway CA and a server certificate for 127.0.0.1 (and `moreIps`), made with openssl. */
export function makeServerCert(moreIps: string[] = []): { key: string; cert: string; caFile: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyportal-tls-'));
  const f = (n: string) => path.join(dir, n);
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', f('ca.key'), '-out', f('ca.crt'));
  run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('srv.key'), '-out', f('srv.csr'));
  writeFileSync(f('ext.cnf'), `subjectAltName=${['127.0.0.1', ...moreIps].map((ip) => `IP:${ip}`).join(',')},DNS:localhost\n`);
  run('x509', '-req', '-in', f('srv.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f('ext.cnf'), '-out', f('srv.crt'));
  return { key: readFileSync(f('srv.key'), 'utf8'), cert: readFileSync(f('srv.crt'), 'utf8'), caFile: f('ca.crt') };
}
