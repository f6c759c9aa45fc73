import { describe, expect, it } from 'vitest';
import type { KeyRequest } from '@/lib/domain/key-request';
import type { State } from '@/lib/domain/states';
import { buildLoop } from '@/lib/loop/wiring';
import { keyHash } from '@/lib/domain/key-request';
import { kubectl } from '../helpers/cluster';
import { MASTER_KEY, type TestSetup, testConfig } from '../helpers/portal';
import { until } from '../helpers/wait';
import { afterThisTest, clusterWorld } from '../helpers/world';

// The loop in this process, against the real API server, the LiteLLM-compatible test gateway
// and a real SMTP server; every test has its own namespace and servers.

/** The key an "is ready" email carries. */
function keyIn(text: string | undefined): string {
  const key = /API key: (\S+)/.exec(text ?? '')?.[1];
  if (!key) throw new Error(`no key in the email: ${text ?? '(no email)'}`);
  return key;
}

async function world(overrides: Partial<TestSetup> = {}) {
  const { namespace, gateway, smtp, setup, store } = await clusterWorld('loop', overrides);
  const { loop } = buildLoop(testConfig(setup), store, {});
  loop.start();
  afterThisTest(() => loop.stop());
  const settled = (id: string, state: State, timeoutMs = 15_000) =>
    until(async () => {
      const r = await store.get(id);
      return r.state === state && r.notified === state ? r : undefined;
    }, `request ${id} to be ${state} and emailed`, timeoutMs);
  return { namespace, gateway, smtp, store, settled };
}

/** kubectl's Secret describer prints no Events; `kubectl events --for` is how an admin reads them. */
async function eventsOf(namespace: string, r: KeyRequest): Promise<string> {
  return kubectl('-n', namespace, 'events', '--for', `secret/keyreq-${r.id}`);
}

describe('the approval loop', () => {
  it('a whitelisted model is issued: one key at the gateway, one email holding it, and no key left in the Secret', async () => {
    const { namespace, gateway, smtp, store, settled } = await world();
    const { request } = await store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    const issued = await settled(request.id, 'issued');

    const key = keyIn(smtp.to('ada@example.com')[0]?.text);
    expect(key).toMatch(/^sk-kp-[A-Za-z0-9_-]{32}$/);
    expect(issued.keySha256).toBe(keyHash(key));
    // Delivered: the Secret keeps only the hash; the key is in the email and at the gateway.
    await until(async () => !(await store.get(request.id)).hasKey, 'the delivered key to be erased');
    expect(await store.readKey(request.id)).toBeUndefined();
    expect(await kubectl('-n', namespace, 'get', 'secret', `keyreq-${request.id}`, '-o', 'json')).not.toContain(Buffer.from(key).toString('base64'));
    const minted = gateway.keysFor(request.id);
    expect(minted).toHaveLength(1);
    expect(minted[0]).toMatchObject({
      key,
      key_alias: `keyportal-${request.id}`,
      models: ['gpt-4o'],
      user_id: 'ada@example.com',
      max_budget: 10,
      budget_duration: '30d',
      rpm_limit: 60,
      tpm_limit: 1000,
    });
    expect(gateway.ignoredFields).toEqual([]);
    expect(issued.expiresAt).toMatch(/Z$/);
    expect(issued).toMatchObject({ decidedBy: 'plugin:whitelist', reason: 'model gpt-4o matches "gpt-4o"' });
    expect(issued.trace?.map((t) => `${t.plugin}:${t.outcome}`)).toEqual(['blacklist:continue', 'whitelist:approve']);

    const mails = smtp.to('ada@example.com');
    expect(mails).toHaveLength(1);
    expect(mails[0]?.subject).toBe('Your API key for GPT-4o is ready');
    expect(mails[0]?.text).toContain(`API key: ${key}`);
    expect(mails[0]?.text).toContain('https://llm.example.com');

    // The admin's view: the Secret's events tell the story, and never show the key.
    const described = await eventsOf(namespace, request);
    // One pass approved, minted and emailed: one Event, named after the last change, saying all three.
    expect(described).toMatch(/KeyMinted\s.*approved by plugin:whitelist.*; key keyportal-\w+ minted at the gateway; emailed the requester about "issued"/);
    expect(described).not.toContain(key as string);
    const yaml = await kubectl('-n', namespace, 'get', 'secret', `keyreq-${request.id}`, '-o', 'jsonpath={.metadata}');
    expect(yaml).not.toContain(key as string);
  });

  it('a blacklisted model is denied with the plugin reason: one denial email, no key', async () => {
    const { gateway, smtp, store, settled } = await world();
    const { request } = await store.create({ email: 'bob@example.com', model: 'internal/secret-model' });
    const denied = await settled(request.id, 'denied');
    expect(denied).toMatchObject({ decidedBy: 'plugin:blacklist', reason: 'Internal models are closed.', hasKey: false });
    expect(gateway.generateCalls).toBe(0);
    const mails = smtp.to('bob@example.com');
    expect(mails).toHaveLength(1);
    expect(mails[0]?.text).toContain('Reason: Internal models are closed.');
    // The model title holds markup: escaped in HTML, and the subject stays one line.
    expect(mails[0]?.html).toContain('Internal models are closed.');
    expect(mails[0]?.subject).toBe('Your Internal <b>secret</b> model key request was denied');
    expect(mails[0]?.html).not.toContain('<b>secret</b>');
  });

  it('the email plugin approves a matching address and denies the rest', async () => {
    const { gateway, smtp, store, settled } = await world({
      plugins: [{ name: 'email', config: { patterns: ['*@example.com'] } }],
    });
    const ok = (await store.create({ email: 'Carol@EXAMPLE.com', model: 'experimental' })).request;
    const no = (await store.create({ email: 'mallory@evil.test', model: 'experimental' })).request;
    await settled(ok.id, 'issued');
    const denied = await settled(no.id, 'denied');
    expect(denied.reason).toBe('requester address matches no allowed pattern');
    expect(gateway.keysFor(ok.id)).toHaveLength(1);
    expect(gateway.keysFor(no.id)).toHaveLength(0);
    expect(smtp.to('mallory@evil.test')).toHaveLength(1);
  });

  it('a request held for review, approved with kubectl label, gets a key and one email', async () => {
    const { namespace, gateway, smtp, store, settled } = await world();
    const { request } = await store.create({ email: 'dan@example.com', model: 'experimental' });
    const held = await settled(request.id, 'in-review');
    expect(held.reason).toBe('Held for review: no plugin decided; the default is review');
    const notice = await until(() => smtp.to('approvers@example.com')[0], 'the approvers to be told');
    expect(notice.subject).toBe('Key request for Experimental waits for review');
    expect(notice.text).toContain(`kubectl label secret keyreq-${request.id} keyportal.dev/state=approved --overwrite`);
    expect(notice.text).toContain('http://portal.test:3000/approvals');

    await kubectl('-n', namespace, 'label', 'secret', `keyreq-${request.id}`, 'keyportal.dev/state=approved', '--overwrite');
    const issued = await settled(request.id, 'issued');
    expect(issued).toMatchObject({ decidedBy: 'kubectl', reason: 'Approved by an administrator' });
    expect(gateway.keysFor(request.id)).toHaveLength(1);
    const mails = smtp.to('dan@example.com');
    expect(mails).toHaveLength(1);
    expect(keyHash(keyIn(mails[0]?.text))).toBe(issued.keySha256);
    expect(gateway.keysFor(request.id)[0]?.key).toBe(keyIn(mails[0]?.text));
  });

  it('a request held for review, denied with kubectl label and annotate, gets one email with that reason', async () => {
    // Each kubectl call is a process start; on a busy CI machine the two can be seconds apart.
    const { namespace, gateway, smtp, store, settled } = await world({ loop: { kubectlGraceSeconds: 6, resyncSeconds: 1 } });
    const { request } = await store.create({ email: 'erin@example.com', model: 'experimental' });
    await settled(request.id, 'in-review');
    const secret = `keyreq-${request.id}`;
    await kubectl('-n', namespace, 'label', 'secret', secret, 'keyportal.dev/state=denied', '--overwrite');
    await kubectl('-n', namespace, 'annotate', 'secret', secret, 'keyportal.dev/reason=Use the EU model for customer data', '--overwrite');
    const denied = await settled(request.id, 'denied');
    expect(denied).toMatchObject({ decidedBy: 'kubectl', reason: 'Use the EU model for customer data' });
    // Two more resyncs of the loop (it lists every request each time): still exactly one email.
    let resyncs = 0;
    const listAll = store.listAll.bind(store);
    store.listAll = (page) => ((resyncs += page?.continue ? 0 : 1), listAll(page));
    await until(() => resyncs >= 2, 'two resyncs of the loop');
    const mails = smtp.to('erin@example.com');
    expect(mails).toHaveLength(1);
    expect(mails[0]?.text).toContain('Reason: Use the EU model for customer data');
    expect(gateway.generateCalls).toBe(0);
  });

  it('a gateway that is down for a while: the request waits, says so, and ends issued', async () => {
    const { gateway, smtp, store, settled } = await world();
    await gateway.stop();
    const { request } = await store.create({ email: 'fay@example.com', model: 'gpt-4o-mini' });
    const waiting = await until(async () => {
      const r = await store.get(request.id);
      return r.retry && r.retry.attempt >= 2 ? r : undefined;
    }, 'the request to record a retry');
    expect(waiting.state).toBe('approved');
    expect(waiting.retry).toMatchObject({ step: 'mint' });
    expect(waiting.retry?.error).toMatch(/unreachable/);
    expect(waiting.retry?.error).not.toContain(MASTER_KEY);
    await gateway.start();
    const issued = await settled(request.id, 'issued');
    expect(issued.retry).toBeUndefined();
    expect(gateway.keysFor(request.id)).toHaveLength(1);
    expect(smtp.to('fay@example.com')).toHaveLength(1);
  });

  it('gateway 500s and timeouts are retried; exactly one key results', async () => {
    const { gateway, store, settled } = await world();
    gateway.failNext(2, 500);
    gateway.hangNext(1);
    const { request } = await store.create({ email: 'gus@example.com', model: 'gpt-4o-mini' });
    await settled(request.id, 'issued', 30_000);
    expect(gateway.keysFor(request.id)).toHaveLength(1);
  });

  it('a key the gateway stored but whose answer was lost is issued with the expiry LiteLLM gave it, not without one', async () => {
    const { gateway, store, settled } = await world();
    gateway.loseAnswerNext(1);
    const { request } = await store.create({ email: 'ida@example.com', model: 'gpt-4o' });
    const issued = await settled(request.id, 'issued', 30_000);
    const [minted] = gateway.keysFor(request.id);
    expect(gateway.keysFor(request.id)).toHaveLength(1);
    // gpt-4o's duration is 30d: the gateway's own expiry, read back by hash from /key/info.
    expect(issued.expiresAt).toBe(new Date(minted?.expires as string).toISOString().replace(/\.\d{3}Z$/, 'Z'));
    expect(gateway.requestLog.some((l) => l.includes(minted?.key as string))).toBe(false);
  });

  it('SMTP down: the key is stored and issued, and the email goes out when SMTP returns', async () => {
    const { gateway, smtp, store, settled } = await world();
    await smtp.stop();
    const { request } = await store.create({ email: 'hal@example.com', model: 'gpt-4o' });
    const waiting = await until(async () => {
      const r = await store.get(request.id);
      return r.state === 'issued' && r.retry?.step === 'notify' ? r : undefined;
    }, 'the request to be issued and wait on SMTP');
    expect(waiting.hasKey).toBe(true);
    expect(waiting.notified).toBeUndefined();
    expect(gateway.keysFor(request.id)).toHaveLength(1);
    await smtp.start();
    await settled(request.id, 'issued');
    expect(smtp.to('hal@example.com')).toHaveLength(1);
  });

  it('a gateway that refuses for good leaves the request failed, with one email saying why', async () => {
    const { gateway, smtp, store, settled } = await world();
    gateway.failNext(1, 400);
    const { request } = await store.create({ email: 'ivy@example.com', model: 'gpt-4o' });
    const failed = await settled(request.id, 'failed');
    expect(failed.reason).toMatch(/^The gateway refused to create the key: HTTP 400/);
    expect(smtp.to('ivy@example.com')).toHaveLength(1);
    expect(smtp.to('ivy@example.com')[0]?.subject).toBe('Your GPT-4o key request could not be completed');
  });

  it('an issued key revoked with kubectl is deleted at the gateway and the requester told once', async () => {
    const { namespace, gateway, smtp, store, settled } = await world();
    const { request } = await store.create({ email: 'jo@example.com', model: 'gpt-4o' });
    await settled(request.id, 'issued');
    expect(gateway.keysFor(request.id)).toHaveLength(1);
    await kubectl('-n', namespace, 'label', 'secret', `keyreq-${request.id}`, 'keyportal.dev/state=revoked', '--overwrite');
    await settled(request.id, 'revoked');
    expect(gateway.keysFor(request.id)).toHaveLength(0);
    expect(smtp.to('jo@example.com').map((m) => m.subject)).toEqual(['Your API key for GPT-4o is ready', 'Your GPT-4o key request was revoked']);
    // The admin's label edit is recorded as theirs: the email does not repeat the approval's reason.
    expect(smtp.to('jo@example.com')[1]?.text).toContain('Revoked by an administrator');
    expect(await store.get(request.id)).toMatchObject({ decision: 'revoked', decidedBy: 'kubectl' });
  });

  it('portal delivery: the email links to the request and never holds the key', async () => {
    const { smtp, store, settled, gateway } = await world({ keyDelivery: 'portal' });
    const { request } = await store.create({ email: 'kai@example.com', model: 'gpt-4o' });
    await settled(request.id, 'issued');
    const key = gateway.keysFor(request.id)[0]?.key;
    expect(key).toMatch(/^sk-kp-/);
    const [mail] = smtp.to('kai@example.com');
    expect(mail?.text).toContain(`http://portal.test:3000/requests/${request.id}`);
    expect(mail?.text).not.toContain(key as string);
    expect(mail?.html).not.toContain(key as string);
  });
});
