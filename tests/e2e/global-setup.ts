import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { MASTER_KEY, configDocument, stopProcess, waitForReady } from '../helpers/portal';
import { TestGateway } from '@/trial/litellm';
import { TestSlack } from '@/trial/slack';
import { TestOidc } from '@/trial/oidc';
import { TestSmtp } from '@/trial/smtp';
import { E2E_ENV_FILE, type E2eEnv, OIDC_ACCOUNTS, SLACK_SIGNING_SECRET, SLACK_USERS, WEBHOOK_SECRET } from './env';

const repo = path.resolve(import.meta.dirname, '../..');
const run = path.join(repo, 'test-results/e2e');

async function stopPortal(child: ChildProcess, log: string): Promise<void> {
  if (!(await stopProcess(child))) console.error(`the portal did not exit within 10 s of SIGTERM; see ${log}`);
}

/** `next start` of the production build, as `npm run portal` runs it. */
function startPortal(name: string, port: number, env: Record<string, string>): { child: ChildProcess; log: string } {
  const log = path.join(run, `${name}.log`);
  const out = createWriteStream(log);
  const child = spawn(process.execPath, [path.join(repo, 'node_modules/next/dist/bin/next'), 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: repo,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return { child, log };
}

export default async function globalSetup() {
  rmSync(run, { recursive: true, force: true });
  mkdirSync(path.join(run, 'mail'), { recursive: true });
  mkdirSync(path.join(repo, 'test-results/screenshots'), { recursive: true });
  if (!existsSync(path.join(repo, '.next/BUILD_ID'))) {
    execFileSync(process.execPath, [path.join(repo, 'node_modules/next/dist/bin/next'), 'build'], { cwd: repo, stdio: 'inherit', env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' } });
  }

  // The test cluster, reused if `npm run cluster:up` already runs it.
  const stateDir = process.env.KEYPORTAL_CLUSTER_DIR ?? path.join(repo, '.cluster');
  const startedHere = !existsSync(path.join(stateDir, 'kubeconfig'));
  const kubeconfig = execFileSync('bash', [path.join(repo, 'tests/cluster/up.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop() ?? '';
  const kubectl = path.join(readFileSync(path.join(stateDir, 'bin'), 'utf8').trim(), 'kubectl');
  const namespace = `e2e-${randomBytes(3).toString('hex')}`;
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'create', 'namespace', namespace]);

  const gateway = new TestGateway(MASTER_KEY, { testControls: true });
  await gateway.start();
  const mailDir = path.join(run, 'mail');
  const smtp = new TestSmtp({ dumpDir: mailDir });
  await smtp.start();

  const clusterUrl = 'http://127.0.0.1:3102';
  // Slack: the double posts interactions to the portal's real route (slack.spec.ts).
  const slack = new TestSlack({ signingSecret: SLACK_SIGNING_SECRET, users: SLACK_USERS, channels: [{ id: 'CREVIEW', name: 'key-reviews' }] });
  await slack.start();
  slack.interactionUrl = `${clusterUrl}/api/slack/interactions`;
  const oidcClientSecret = randomBytes(16).toString('hex');
  const oidc = new TestOidc({ clientId: 'keyportal', clientSecret: oidcClientSecret, redirectUri: `${clusterUrl}/api/auth/callback/oidc` }, OIDC_ACCOUNTS);
  await oidc.start();

  // The cluster portal: Kubernetes store, the LiteLLM-compatible gateway, real SMTP, leader election.
  const doc = configDocument({
    store: { type: 'kubernetes', namespace, kubeconfig },
    gatewayUrl: gateway.url,
    smtp: smtp.address,
    keyDelivery: 'portal',
    leaderElection: true,
    loop: { resyncSeconds: 10, kubectlGraceSeconds: 2 },
  });
  doc.portal = { publicUrl: clusterUrl, title: 'Keyportal' };
  (doc.approvals as Record<string, unknown>).approvers = { emails: ['approver@example.com'], groups: ['keyportal-approvers'] };
  doc.auth = { oidc: { issuer: oidc.issuer, clientId: 'keyportal', name: 'Test SSO', managerClaim: 'manager' } };
  // A tier that asks why, then the requester's manager, then the platform team (policies.spec.ts).
  (doc.models as Array<Record<string, unknown>>).push({ id: 'frontier', title: 'Frontier', limits: { duration: '30d', max_budget: 50, rpm_limit: 60 }, policy: 'frontier' });
  (doc.approvals as Record<string, unknown>).policies = {
    frontier: {
      justification: { required: true, minLength: 20 },
      stages: [
        { name: 'the manager', approvers: { manager: true } },
        { name: 'the platform team', approvers: { emails: ['approver@example.com'], groups: ['keyportal-approvers'] } },
      ],
    },
  };
  doc.chat = { slack: { reviewChannel: '#key-reviews', apiUrl: slack.apiUrl } };
  const clusterConfig = path.join(run, 'cluster-config.yaml');
  writeFileSync(clusterConfig, stringify(doc));

  // The embedded portal: the committed config.yaml, with its folders moved into this run.
  const embeddedUrl = 'http://127.0.0.1:3101';
  const embedded = parse(readFileSync(path.join(repo, 'config.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  const data = path.join(run, 'embedded-data');
  embedded.portal = { ...embedded.portal, publicUrl: embeddedUrl };
  embedded.store = { type: 'local', dir: path.join(data, 'requests') };
  embedded.gateway = { ...embedded.gateway, dir: path.join(data, 'gateway') };
  embedded.mail = { ...embedded.mail, outbox: path.join(data, 'outbox') };
  const embeddedConfig = path.join(run, 'embedded-config.yaml');
  writeFileSync(embeddedConfig, stringify(embedded));

  const clusterEnv = {
    KEYPORTAL_CONFIG: clusterConfig,
    GATEWAY_MASTER_KEY: MASTER_KEY,
    NEXTAUTH_SECRET: randomBytes(32).toString('base64url'),
    // The HR system rotates: its old and new secret both sign as "workday".
    KEYPORTAL_WEBHOOK_SECRETS: `workday:${randomBytes(32).toString('hex')},workday:${WEBHOOK_SECRET}`,
    OIDC_CLIENT_SECRET: oidcClientSecret,
    // Both sign-ins: OIDC as in production, and the opted-in email sign-in the other tests use.
    KEYPORTAL_DEV_SIGNIN: 'true',
    SLACK_BOT_TOKEN: slack.token,
    SLACK_SIGNING_SECRET,
  };
  const clusterReplicaUrl = 'http://127.0.0.1:3103';
  const portals = [
    startPortal('embedded', 3101, { KEYPORTAL_CONFIG: embeddedConfig }),
    startPortal('cluster', 3102, clusterEnv),
    // A second replica, so the webhook's rules are tested across processes (they share nothing
    // but the namespace); only one of the two runs the loop at a time (the Lease).
    startPortal('cluster-replica', 3103, clusterEnv),
  ];
  const stop = async () => {
    // Each portal finishes the step in hand and hands back the Lease; wait for it to exit (and
    // say so if one does not within 10 s) before its servers go away underneath it.
    await Promise.all(portals.map((p) => stopPortal(p.child, p.log)));
    await gateway.stop();
    await smtp.stop();
    await oidc.stop();
    await slack.stop();
    if (startedHere) execFileSync('bash', [path.join(repo, 'tests/cluster/down.sh')], { stdio: 'inherit' });
  };
  try {
    await waitForReady(embeddedUrl, portals[0]!.child, portals[0]!.log);
    await waitForReady(clusterUrl, portals[1]!.child, portals[1]!.log);
    await waitForReady(clusterReplicaUrl, portals[2]!.child, portals[2]!.log);
  } catch (err) {
    await stop();
    throw err;
  }

  const env: E2eEnv = { embeddedUrl, clusterUrl, clusterReplicaUrl, namespace, kubeconfig, kubectl, gatewayUrl: gateway.url, mailDir, outboxDir: path.join(data, 'outbox'), embeddedRequestsDir: path.join(data, 'requests'), slackUrl: slack.url };
  writeFileSync(E2E_ENV_FILE, JSON.stringify(env));
  return stop;
}
