import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@/lib/config/errors';
import { loadConfig, parseConfig } from '@/lib/config/load';
import { parseWebhookSecrets } from '@/lib/config/webhook-secrets';

const minimal = { models: [{ id: 'gpt-4o', title: 'GPT-4o' }] };

function problemsOf(raw: unknown, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(raw, { source: 'config.yaml', env });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

async function writeConfig(text: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keyportal-config-'));
  const file = path.join(dir, 'config.yaml');
  await writeFile(file, text);
  return file;
}

describe('config.yaml', () => {
  it('the committed config.yaml loads and runs the embedded defaults', () => {
    const config = loadConfig({ path: 'config.yaml', env: {} });
    expect(config.store.type).toBe('local');
    expect(config.gateway.type).toBe('local');
    expect(config.mail.outbox).toBeDefined();
    expect(config.models.length).toBeGreaterThan(0);
  });

  it('review deadlines, digests and budgets are checked, naming the field', () => {
    expect(problemsOf({ ...minimal, approvals: { escalateAfterHours: 48 } })).toEqual([expect.stringMatching(/^approvals\.escalateTo: escalateAfterHours is set: name who the digest escalates to/)]);
    expect(problemsOf({ ...minimal, approvals: { escalateAfterHours: 12, escalateTo: ['head@example.com'] } })).toEqual([expect.stringMatching(/^approvals\.escalateAfterHours: escalate after the approvers were reminded/)]);
    expect(problemsOf({ ...minimal, approvals: { reviewTimeoutDays: 1, remindAfterHours: 24 } })).toEqual([expect.stringMatching(/^approvals\.remindAfterHours: a reminder after the review deadline/)]);
    expect(problemsOf({ ...minimal, lifecycle: { topUp: { notifyAtPercent: 120 } } })[0]).toMatch(/^lifecycle\.topUp\.notifyAtPercent/);
    expect(problemsOf({ ...minimal, lifecycle: { idleDays: 0 } })[0]).toMatch(/^lifecycle\.idleDays/);
    const c = parseConfig(minimal, { source: 'x', env: {} });
    expect(c.approvals).toMatchObject({ reviewTimeoutDays: 14, remindAfterHours: 24, escalateTo: [] });
    expect(c.lifecycle.topUp).toEqual({ notifyAtPercent: 80, checkMinutes: 15, checksPerSecond: 10, ceilingFactor: 2 });
  });

  it('fills every section from defaults when only the catalog is given', () => {
    const c = parseConfig(minimal, { source: 'x', env: {} });
    expect(c.store).toEqual({ type: 'local', dir: '.data/requests', retention: { endedDays: 90, maxDeletesPerMinute: 60 } });
    expect(c.gateway.type).toBe('local');
    expect(c.approvals.default).toBe('deny');
    expect(c.loop.resyncSeconds).toBe(60);
    expect(c.models[0]).toMatchObject({ featured: false, description: '', limits: {} });
  });

  it('names the path and the problem of a wrong value', () => {
    const problems = problemsOf({
      models: [{ id: 'gpt-4o', title: 'GPT-4o', limits: { duration: 'forever', rpm_limit: -1 } }],
      approvals: { default: 'maybe', plugins: [{ name: 'whitelist', config: {} }, { config: {} }] },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^models\[0\]\.limits\.duration: expected a duration/),
        expect.stringMatching(/^models\[0\]\.limits\.rpm_limit: /),
        expect.stringMatching(/^approvals\.default: /),
        expect.stringMatching(/^approvals\.plugins\[1\]\.name: /),
      ]),
    );
  });

  it('keeps idle client connections longer than the proxies in front do, and refuses a nonsense value naming it', () => {
    expect(parseConfig(minimal, { source: 'x', env: {} }).portal.keepAliveSeconds).toBe(65);
    expect(problemsOf({ ...minimal, portal: { keepAliveSeconds: 0 } })[0]).toMatch(/^portal\.keepAliveSeconds: /);
    expect(problemsOf({ ...minimal, portal: { keepAliveSeconds: 1.5 } })[0]).toMatch(/^portal\.keepAliveSeconds: /);
    expect(parseConfig({ ...minimal, portal: { keepAliveSeconds: 620 } }, { source: 'x', env: {} }).portal.keepAliveSeconds).toBe(620);
  });

  it('reports an unknown field, so a typo is not silently ignored', () => {
    expect(problemsOf({ ...minimal, gatway: {} })).toEqual(['(top level): unknown field "gatway"']);
    expect(problemsOf({ ...minimal, store: { type: 'local', dri: 'x' } })).toEqual(['store: unknown field "dri"']);
  });

  it('refuses a secret written into the file and says which variable to use', () => {
    const problems = problemsOf(
      { ...minimal, gateway: { type: 'litellm', baseUrl: 'http://gw:4000', masterKey: 'sk-1234' } },
      { GATEWAY_MASTER_KEY: 'from-env' },
    );
    expect(problems[0]).toBe('gateway.masterKey: secrets are never read from the config file; set GATEWAY_MASTER_KEY (or GATEWAY_MASTER_KEY_FILE) instead');
    expect(problems.join('\n')).not.toContain('sk-1234');
  });

  it('needs the master key for a LiteLLM gateway, from the environment or a file', async () => {
    const litellm = { ...minimal, gateway: { type: 'litellm', baseUrl: 'https://gw:4000' }, mail: { smtp: { host: 'smtp.example.com' } } };
    expect(problemsOf(litellm)).toEqual([
      'gateway: type "litellm" needs the master key in GATEWAY_MASTER_KEY (or GATEWAY_MASTER_KEY_FILE)',
    ]);
    const keyFile = await writeConfig('sk-from-file\n');
    const c = parseConfig(litellm, { source: 'x', env: { GATEWAY_MASTER_KEY_FILE: keyFile } });
    expect(c.secrets.GATEWAY_MASTER_KEY).toBe('sk-from-file');
    expect(problemsOf(litellm, { GATEWAY_MASTER_KEY_FILE: '/nonexistent/key' })[0]).toBe(
      'GATEWAY_MASTER_KEY_FILE: cannot read /nonexistent/key (ENOENT)',
    );
  });

  it('lets the environment override deployment values, and names the variable when one is wrong', () => {
    const c = parseConfig(minimal, {
      source: 'x',
      env: { KEYPORTAL_STORE_TYPE: 'kubernetes', KEYPORTAL_NAMESPACE: 'keys', SMTP_HOST: 'smtp.example.com', SMTP_PORT: '465', SMTP_SECURITY: 'tls' },
    });
    expect(c.store).toEqual({ type: 'kubernetes', namespace: 'keys', retention: { endedDays: 90, maxDeletesPerMinute: 60 } });
    expect(c.mail.smtp).toEqual({ host: 'smtp.example.com', port: 465, security: 'tls', maxConnections: 16 });
    expect(problemsOf(minimal, { SMTP_HOST: 'h', SMTP_PORT: 'twenty-five' })).toEqual([
      expect.stringMatching(/^mail\.smtp\.port: .*\(set by SMTP_PORT\)$/),
    ]);
  });

  it('an env-switched store type drops the file fields of the other type', () => {
    const c = parseConfig({ ...minimal, store: { type: 'local', dir: '/data' } }, { source: 'x', env: { KEYPORTAL_STORE_TYPE: 'kubernetes' } });
    expect(c.store).toEqual({ type: 'kubernetes', retention: { endedDays: 90, maxDeletesPerMinute: 60 } });
  });

  it('refuses duplicate model ids', () => {
    expect(problemsOf({ models: [minimal.models[0], minimal.models[0]] })).toEqual(['models[1].id: duplicate model id "gpt-4o"']);
  });

  it('reports YAML syntax errors with line and column, never a stack trace', async () => {
    const file = await writeConfig('models:\n  - id: a\n   title: [unclosed\n');
    const err = (() => {
      try {
        loadConfig({ path: file, env: {} });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(new RegExp(`^${file} is not a valid Keyportal configuration:\\n  - line \\d+, column \\d+: `));
  });

  it('reports a missing file by name', () => {
    expect(() => loadConfig({ path: '/nonexistent/config.yaml', env: {} })).toThrow(
      '/nonexistent/config.yaml is not a valid Keyportal configuration:\n  - cannot read the file (ENOENT)',
    );
  });

  it('runs plugin checks and places their problems under the plugin entry', () => {
    const checkPlugin = (name: string, config: Record<string, unknown>) =>
      name === 'whitelist' && !Array.isArray(config.models) ? [{ path: ['config', 'models'], message: 'expected an array of strings' }] : [];
    expect(() =>
      parseConfig(
        { ...minimal, approvals: { plugins: [{ name: 'email' }, { name: 'blacklist' }, { name: 'whitelist', config: { models: 'gpt-*' } }] } },
        { source: 'config.yaml', env: {}, checkPlugin },
      ),
    ).toThrow('approvals.plugins[2].config.models: expected an array of strings');
  });
});

describe('secrets that are strong enough, and callers that are named', () => {
  const strong = 'a'.repeat(32);
  const problems = (env: Record<string, string>) => {
    try {
      parseConfig(minimal, { source: 'test', env });
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  it('takes webhook secrets as client:secret pairs, one client listed twice while it rotates', () => {
    expect(parseWebhookSecrets(`workday:${strong},workday:${'b'.repeat(40)}, servicenow:${'c'.repeat(32)}`).clients.map((c) => c.client)).toEqual(['workday', 'workday', 'servicenow']);
    expect(problems({ KEYPORTAL_WEBHOOK_SECRETS: `workday:${strong}` })).toEqual([]);
  });

  it('refuses an unnamed or short webhook secret, naming the entry and never the secret', () => {
    const found = problems({ KEYPORTAL_WEBHOOK_SECRETS: `${strong},hr:short-secret-value,Bad Name:${strong}` });
    expect(found).toEqual([
      expect.stringMatching(/^KEYPORTAL_WEBHOOK_SECRETS entry 1: expected <client>:<secret>/),
      expect.stringMatching(/^KEYPORTAL_WEBHOOK_SECRETS entry 2 \(hr\): the secret has fewer than 32 bytes/),
      expect.stringMatching(/^KEYPORTAL_WEBHOOK_SECRETS entry 3: expected <client>:<secret>/),
    ]);
    expect(found.join('\n')).not.toContain('short-secret-value');
    expect(found.join('\n')).not.toContain(strong);
  });

  it('refuses a NEXTAUTH_SECRET shorter than 32 bytes', () => {
    expect(problems({ NEXTAUTH_SECRET: 'hunter2' })).toEqual([expect.stringMatching(/^NEXTAUTH_SECRET: fewer than 32 bytes/)]);
    expect(problems({ NEXTAUTH_SECRET: strong })).toEqual([]);
  });
});

describe('mail in the clear', () => {
  const withSmtp = (host: string, security: string) => ({ ...minimal, mail: { smtp: { host, port: 25, security } } });
  it('goes only to a loopback SMTP server; elsewhere security "none" is refused, naming the field', () => {
    expect(problemsOf(withSmtp('smtp.example.com', 'none'))).toEqual([expect.stringMatching(/^mail\.smtp\.security: "none" sends mail \(and keys, with keyDelivery: email\) in the clear: only to a loopback host/)]);
    expect(problemsOf(withSmtp('127.0.0.1', 'none'))).toEqual([]);
    expect(problemsOf(withSmtp('localhost', 'none'))).toEqual([]);
    expect(problemsOf(withSmtp('smtp.example.com', 'starttls'))).toEqual([]);
  });

  it('bounds the SMTP connections and the loop workers, naming the field', () => {
    const smtp = (maxConnections: unknown) => ({ ...minimal, mail: { smtp: { host: 'smtp.example.com', maxConnections } } });
    expect(problemsOf(smtp(0))).toEqual([expect.stringMatching(/^mail\.smtp\.maxConnections: /)]);
    expect(problemsOf(smtp(65))).toEqual([expect.stringMatching(/^mail\.smtp\.maxConnections: /)]);
    expect(problemsOf(smtp(2.5))).toEqual([expect.stringMatching(/^mail\.smtp\.maxConnections: /)]);
    expect(problemsOf(smtp(16))).toEqual([]);
    expect(problemsOf({ ...minimal, loop: { concurrency: 129 } })).toEqual([expect.stringMatching(/^loop\.concurrency: /)]);
    expect(parseConfig(minimal, { source: 'x', env: {} }).loop.concurrency).toBe(32);
  });

});

describe('credentials never travel in the clear by default', () => {
  const litellm = (baseUrl: string, extra: Record<string, unknown> = {}) => ({ ...minimal, gateway: { type: 'litellm', baseUrl, ...extra }, mail: { smtp: { host: 'smtp.example.com' } } });
  const env = { GATEWAY_MASTER_KEY: 'sk-master', OIDC_CLIENT_SECRET: 'c', NEXTAUTH_SECRET: 'n'.repeat(32) };

  it('refuses plain http to the gateway beyond loopback, naming the field; allows it on loopback or when said so', () => {
    expect(problemsOf(litellm('http://litellm:4000'), env)).toEqual([expect.stringMatching(/^gateway\.baseUrl: plain http:\/\/ beyond loopback sends the master key in the clear/)]);
    expect(problemsOf(litellm('http://127.0.0.1:4000'), env)).toEqual([]);
    expect(problemsOf(litellm('https://litellm:4000'), env)).toEqual([]);
    expect(problemsOf(litellm('http://litellm:4000', { allowPlaintext: true }), env)).toEqual([]);
  });

  it('refuses plain http to the identity provider beyond loopback, naming the field', () => {
    const oidc = (issuer: string, extra: Record<string, unknown> = {}) => ({ ...minimal, auth: { oidc: { issuer, clientId: 'kp', ...extra } } });
    expect(problemsOf(oidc('http://keycloak.internal/realms/staff'), env)).toEqual([expect.stringMatching(/^auth\.oidc\.issuer: plain http:\/\/ beyond loopback/)]);
    expect(problemsOf(oidc('http://keycloak.internal/realms/staff', { allowPlaintext: true }), env)).toEqual([]);
    expect(problemsOf(oidc('https://login.example.com'), env)).toEqual([]);
  });

  it('a real gateway with no SMTP is refused: keys are written to an outbox folder only when mail.outbox asks for it', () => {
    const noSmtp = { ...minimal, gateway: { type: 'litellm', baseUrl: 'https://litellm:4000' } };
    expect(problemsOf(noSmtp, env)).toEqual([expect.stringMatching(/^mail: with a real gateway .* mail\.outbox names it explicitly/)]);
    expect(problemsOf({ ...noSmtp, mail: { outbox: '/var/keyportal/outbox' } }, env)).toEqual([]);
  });

  it('the offboarding webhook secrets are checked as the approval webhook\'s are, by name', () => {
    expect(problemsOf(minimal, { KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS: 'hr:short' })).toEqual([expect.stringContaining('KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS entry 1 (hr): the secret has fewer than 32 bytes')]);
  });
});

describe('audit and retention settings', () => {
  const secret = 'a'.repeat(64);
  it('defaults to the stdout sink and 90 days of ended requests', () => {
    const c = parseConfig(minimal, { source: 'x', env: {} });
    expect(c.audit).toMatchObject({ sink: 'stdout', redactEmail: false, settleSeconds: 2, batchSize: 500 });
    expect(c.store.retention).toEqual({ endedDays: 90, maxDeletesPerMinute: 60 });
  });

  it('refuses a retention below the reveal window, naming the field; 0 keeps ended requests for ever', () => {
    expect(problemsOf({ ...minimal, store: { type: 'local', retention: { endedDays: 3 } } })).toEqual([expect.stringMatching(/^store\.retention\.endedDays: 3 is below portal\.revealWindowDays \(7\)/)]);
    expect(problemsOf({ ...minimal, store: { type: 'local', retention: { endedDays: 0 } } })).toEqual([]);
    expect(problemsOf({ ...minimal, store: { type: 'local', retention: { endedDays: 7 } } })).toEqual([]);
    expect(problemsOf({ ...minimal, store: { type: 'local', retention: { maxDeletesPerMinute: 0 } } })).toEqual([expect.stringMatching(/^store\.retention\.maxDeletesPerMinute:/)]);
  });

  it('a syslog or http sink names what it misses; the http sink needs its signing secret and https beyond loopback', () => {
    expect(problemsOf({ ...minimal, audit: { sink: 'syslog' } })).toEqual([expect.stringMatching(/^audit\.syslog: audit\.sink is syslog: set audit\.syslog\.host/)]);
    expect(problemsOf({ ...minimal, audit: { sink: 'http', http: { url: 'https://siem.example.com/in' } } })).toEqual([expect.stringMatching(/^audit\.sink: is http, so KEYPORTAL_AUDIT_SECRET/)]);
    expect(problemsOf({ ...minimal, audit: { sink: 'http', http: { url: 'https://siem.example.com/in' } } }, { KEYPORTAL_AUDIT_SECRET: secret })).toEqual([]);
    expect(problemsOf({ ...minimal, audit: { sink: 'http', http: { url: 'http://siem.example.com/in' } } }, { KEYPORTAL_AUDIT_SECRET: secret })).toEqual([expect.stringMatching(/^audit\.http\.url: plain http:\/\/ beyond loopback/)]);
    expect(problemsOf({ ...minimal, audit: { sink: 'http', http: { url: 'https://siem.example.com/in' } } }, { KEYPORTAL_AUDIT_SECRET: 'short' })).toEqual([expect.stringMatching(/^KEYPORTAL_AUDIT_SECRET: fewer than 32 bytes/)]);
    expect(problemsOf(minimal, { KEYPORTAL_AUDIT_SECRET: 'short' })).toEqual([expect.stringMatching(/^KEYPORTAL_AUDIT_SECRET: fewer than 32 bytes/)]);
  });
});
