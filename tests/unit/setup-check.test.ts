import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '@/lib/config/load';
import { checkSetup } from '@/lib/setup-check';
import { TestGateway } from '@/trial/litellm';
import { TestSmtp } from '@/trial/smtp';
import { closedPort } from '../helpers/net';

// `helm test` runs straight after `helm install --wait`, which waits for the stand-ins' pods but
// not for their Services to route: the check asks again what does not answer at all, and only that.

const MASTER_KEY = 'sk-master-setup-check';
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

function configFor(gatewayPort: number, smtpPort: number, smtp: { user?: string; password?: string } = {}) {
  return parseConfig(
    {
      models: [{ id: 'gpt-4o', title: 'GPT-4o' }],
      gateway: { type: 'litellm', baseUrl: `http://127.0.0.1:${gatewayPort}` },
      mail: { smtp: { host: '127.0.0.1', port: smtpPort, security: 'none', ...(smtp.user ? { user: smtp.user } : {}) } },
    },
    { source: 'test', env: { GATEWAY_MASTER_KEY: MASTER_KEY, ...(smtp.password ? { SMTP_PASSWORD: smtp.password } : {}) } },
  );
}

async function gatewayOn(port: number, masterKey = MASTER_KEY): Promise<TestGateway> {
  const g = new TestGateway(masterKey, { port, models: ['gpt-4o'] });
  await g.start();
  stops.push(() => g.stop());
  return g;
}

async function smtpOn(port: number, auth?: { user: string; pass: string }): Promise<TestSmtp> {
  const s = new TestSmtp({ port, auth });
  await s.start();
  stops.push(() => s.stop());
  return s;
}

describe('keyportal check (helm test)', () => {
  it('asked once, names what nothing answers for and the setting to look at', async () => {
    const [gatewayPort, smtpPort] = [await closedPort(), await closedPort()];
    const results = await checkSetup(configFor(gatewayPort, smtpPort), { env: {} });
    const byPart = Object.fromEntries(results.map((r) => [r.part, r]));
    expect(byPart.gateway?.ok).toBe(false);
    expect(byPart.gateway?.detail).toMatch(/unreachable.*ECONNREFUSED.*gateway\.baseUrl|gateway\.baseUrl.*unreachable.*ECONNREFUSED/);
    expect(byPart.mail?.ok).toBe(false);
    expect(byPart.mail?.detail).toMatch(/ECONNREFUSED.*\(mail\.smtp, SMTP_PASSWORD/);
    expect(byPart.mail?.detail).not.toMatch(/tries/);
  });

  it('with a wait, a gateway and a mail relay that start listening a moment later are found', async () => {
    const [gatewayPort, smtpPort] = [await closedPort(), await closedPort()];
    const checking = checkSetup(configFor(gatewayPort, smtpPort), { env: {}, settleMs: 20_000 });
    await sleep(1_500);
    await gatewayOn(gatewayPort);
    const smtp = await smtpOn(smtpPort);
    const results = await checking;
    expect(results.map((r) => `${r.part}: ${r.ok}`)).toEqual(['gateway: true', 'mail: true', 'identity provider: true']);
    expect(results[1]?.detail).toBe(`SMTP 127.0.0.1:${smtpPort} accepts us (none)`);
    expect(smtp.connectionsOpened).toBe(1);
  });

  it('a wrong master key or SMTP password is an answer: reported at once, not asked again', async () => {
    const [gatewayPort, smtpPort] = [await closedPort(), await closedPort()];
    const gateway = await gatewayOn(gatewayPort, 'sk-another-master-key');
    const smtp = await smtpOn(smtpPort, { user: 'keyportal', pass: 'right' });
    const results = await checkSetup(configFor(gatewayPort, smtpPort, { user: 'keyportal', password: 'wrong' }), { env: {}, settleMs: 20_000 });
    const byPart = Object.fromEntries(results.map((r) => [r.part, r]));
    expect(byPart.gateway?.ok).toBe(false);
    expect(byPart.gateway?.detail).toMatch(/401/);
    expect(byPart.mail?.ok).toBe(false);
    expect(byPart.mail?.detail).toMatch(/535|EAUTH/);
    expect(byPart.mail?.detail).not.toContain('wrong');
    // One try each: one SMTP connection; at the gateway, the liveness call and the model list once.
    expect(smtp.connectionsOpened).toBe(1);
    expect(gateway.requestLog.length).toBeLessThanOrEqual(2);
  });

  it('a gateway address that answers with a redirect is an answer too: reported after one call', async () => {
    let calls = 0;
    const redirecting = createServer((_req, res) => {
      calls += 1;
      res.writeHead(302, { location: 'https://sso.example.com/login' }).end();
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    stops.push(() => new Promise<void>((resolve) => redirecting.close(() => resolve())));
    const smtpPort = await closedPort();
    await smtpOn(smtpPort);
    const results = await checkSetup(configFor((redirecting.address() as AddressInfo).port, smtpPort), { env: {}, settleMs: 20_000 });
    expect(results[0]?.ok).toBe(false);
    expect(results[0]?.detail).toMatch(/gateway\.baseUrl/);
    expect(results[0]?.detail).not.toMatch(/tries/);
    expect(calls).toBe(1);
  });

  it('a relay that never comes up is reported after the wait, with how often it was asked', async () => {
    const [gatewayPort, smtpPort] = [await closedPort(), await closedPort()];
    await gatewayOn(gatewayPort);
    const results = await checkSetup(configFor(gatewayPort, smtpPort), { env: {}, settleMs: 2_500 });
    expect(results[0]?.ok).toBe(true);
    expect(results[1]?.ok).toBe(false);
    expect(results[1]?.detail).toMatch(/ECONNREFUSED.*\(mail\.smtp, SMTP_PASSWORD, mail\.smtp\.caFile\); nothing answered in [23] tries over 3 s$/);
  });
});
