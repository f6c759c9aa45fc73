/**
 * `node trial.mjs <gateway|smtp|oidc> [options]` (in the image) or `npm run trial:<name> --`:
 * the stand-ins a trial install runs beside the portal, so it needs nothing outside the cluster.
 * They are the same servers the tests talk to (a LiteLLM-compatible admin API, a real SMTP server,
 * a real OpenID Connect provider), and every line they print says TRIAL: no real model answers
 * their keys, their mail goes nowhere but their log, and their sign-in takes any password.
 *
 *   gateway  --port 4000 [--host 0.0.0.0] [--tls-cert f --tls-key f] [--models a,b]   master key: GATEWAY_MASTER_KEY
 *   smtp     --port 2525 [--host 0.0.0.0] [--tls-cert f --tls-key f]                   STARTTLS when given a certificate
 *   oidc     --port 9090 [--host 127.0.0.1] --redirect-uri <portal>/api/auth/callback/oidc [--client-id keyportal]   secret: OIDC_CLIENT_SECRET
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { TestGateway } from './litellm';
import { TestOidc } from './oidc';
import { TestSmtp } from './smtp';

const USAGE = 'usage: trial <gateway|smtp|oidc> [--port N] [--host H] [--tls-cert FILE --tls-key FILE] [--models a,b] [--redirect-uri URL] [--client-id ID]';

function say(msg: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: `TRIAL ${msg}`, trial: true, ...fields }));
}

function fail(message: string): never {
  console.error(`trial: ${message}\n${USAGE}`);
  process.exit(2);
}

function required(value: string | undefined, what: string): string {
  if (!value) fail(`${what} is required`);
  return value;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      models: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'client-id': { type: 'string' },
    },
  });
  const [which] = positionals;
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) fail(`--port: "${values.port}" is not a port number`);
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) fail('--tls-cert and --tls-key go together');
  const tls = values['tls-cert'] && values['tls-key'] ? { cert: readFileSync(values['tls-cert'], 'utf8'), key: readFileSync(values['tls-key'], 'utf8') } : undefined;
  let stop: () => Promise<void>;
  switch (which) {
    case 'gateway': {
      const models = values.models?.split(',').map((m) => m.trim()).filter(Boolean);
      const gateway = new TestGateway(required(process.env.GATEWAY_MASTER_KEY, 'GATEWAY_MASTER_KEY (the master key the portal will send)'), {
        host: values.host ?? '0.0.0.0',
        port: port ?? 4000,
        ...(tls ? { tls } : {}),
        ...(models?.length ? { models } : {}),
      });
      await gateway.start();
      say('LiteLLM-compatible gateway: keys it mints work with no model', { url: gateway.url, models: models ?? [] });
      stop = () => gateway.stop();
      break;
    }
    case 'smtp': {
      const smtp = new TestSmtp({
        host: values.host ?? '0.0.0.0',
        port: port ?? 2525,
        ...(tls ? { starttls: true, tls } : {}),
        // The trial's mailbox is this log: the "key is ready" email links to the status page.
        onMessage: (m) => say('smtp: mail received (delivered nowhere)', { to: m.to, subject: m.subject, text: m.text }),
      });
      await smtp.start();
      say('SMTP relay: mail is printed here and delivered nowhere', { ...smtp.address, starttls: Boolean(tls) });
      stop = () => smtp.stop();
      break;
    }
    case 'oidc': {
      const redirectUris = values['redirect-uri'] ?? [];
      if (redirectUris.length === 0) fail('--redirect-uri is required (the portal\'s <publicUrl>/api/auth/callback/oidc)');
      const clientId = values['client-id'] ?? 'keyportal';
      const oidc = new TestOidc({ clientId, clientSecret: required(process.env.OIDC_CLIENT_SECRET, 'OIDC_CLIENT_SECRET'), redirectUri: redirectUris }, {}, values.host ?? '127.0.0.1', port ?? 9090);
      await oidc.start();
      say('identity provider: sign in as any email address, with any password', { issuer: oidc.issuer, clientId });
      stop = () => oidc.stop();
      break;
    }
    default:
      fail(which ? `unknown stand-in "${which}"` : 'name a stand-in');
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      say('stopping', { signal });
      void stop().then(() => process.exit(0));
    });
  }
}

void main().catch((err: unknown) => {
  console.error(`trial: ${(err as Error).message}`);
  process.exit(1);
});
