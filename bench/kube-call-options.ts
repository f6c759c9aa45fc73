/**
 * `npx tsx bench/kube-call-options.ts`: what preparing one API call's options costs, the way
 * lib/kube/raw.ts did until 5a0d2d9 (client-node's `applyToHTTPSOptions` on every call, then the
 * kept-alive agent found by a hash of the TLS material) against `connectionOptions` (the TLS
 * material read once a minute, the credentials every call). Two KubeConfigs: a pod's (CA and
 * ServiceAccount token in files) and a kubeconfig with its certificates inline (the test
 * cluster's, client certificate and key). Side by side, alternating, three rounds of 5,000;
 * CPU µs a call and the medians. No network: the options only.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { connectionOptions } from '@/lib/kube/connection-options';
import { withKeepAlive } from '@/lib/kube/keep-alive';
import { cpuMicrosPerCall } from './cpu-per-call';
import { median } from './stats';

const N = 5_000;
/** PEM-sized material: the options are not parsed until a connection is made. */
const pem = (label: string) => `-----BEGIN ${label}-----\n${randomBytes(900).toString('base64')}\n-----END ${label}-----\n`;

function podConfig(): KubeConfig {
  const dir = mkdtempSync(path.join(tmpdir(), 'kp-sa-'));
  writeFileSync(path.join(dir, 'ca.crt'), pem('CERTIFICATE'));
  writeFileSync(path.join(dir, 'token'), `eyJ${randomBytes(600).toString('base64url')}`);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'in-cluster', server: 'https://10.96.0.1:443', caFile: path.join(dir, 'ca.crt') }],
    users: [{ name: 'sa', authProvider: { name: 'tokenFile', config: { tokenFile: path.join(dir, 'token') } } }],
    contexts: [{ name: 'c', cluster: 'in-cluster', user: 'sa' }],
    currentContext: 'c',
  });
  return withKeepAlive(kc);
}

function inlineConfig(): KubeConfig {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: 'https://127.0.0.1:6443', caData: b64(pem('CERTIFICATE')) }],
    users: [{ name: 'admin', certData: b64(pem('CERTIFICATE')), keyData: b64(pem('PRIVATE KEY')) }],
    contexts: [{ name: 'c', cluster: 'test', user: 'admin' }],
    currentContext: 'c',
  });
  return withKeepAlive(kc);
}

const ways = [
  ['applyToHTTPSOptions every call', async (kc: KubeConfig) => kc.applyToHTTPSOptions({} as RequestOptions)],
  ['connectionOptions', (kc: KubeConfig) => connectionOptions(kc)],
] as const;

for (const [configName, make] of [['a pod (files)', podConfig], ['inline certificates', inlineConfig]] as const) {
  const kc = make();
  const runs = new Map<string, number[]>(ways.map(([name]) => [name, []]));
  for (let round = 1; round <= 3; round++) {
    for (const [name, way] of ways) {
      const us = await cpuMicrosPerCall(() => way(kc), N, 300);
      runs.get(name)?.push(us);
      process.stdout.write(`${configName}, ${name}, round ${round}: ${us.toFixed(1)} µs CPU a call\n`);
    }
  }
  const [before, after] = ways.map(([name]) => median(runs.get(name) ?? []));
  process.stdout.write(`${configName}: median ${before?.toFixed(1)} → ${after?.toFixed(1)} µs CPU a call, ×${((after ?? 0) / (before ?? 1)).toFixed(2)}\n`);
}
