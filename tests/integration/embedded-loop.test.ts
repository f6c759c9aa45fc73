import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type AddressObject, simpleParser } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Config, parseConfig } from '@/lib/config/load';
import { rfc3339 } from '@/lib/domain/key-request';
import type { State } from '@/lib/domain/states';
import { type LoopParts, buildLoop } from '@/lib/loop/wiring';
import { createStore } from '@/lib/store';
import type { RequestStore } from '@/lib/store/types';
import { checkPluginEntry } from '@/plugins';
import { TEST_MODELS, TEST_PLUGINS } from '../helpers/portal';
import { until } from '../helpers/wait';

// The loop on the embedded defaults, as `npm run portal` runs it with no cluster, gateway or SMTP:
// requests in a local folder, the local stand-in gateway (development keys, kept hashed), and
// mail written to an outbox folder. Each test has its own temporary folders. No cluster is used,
// although this file lives in the integration project.

const DEV_KEY = /^sk-dev-keyportal-[A-Za-z0-9_-]{32}$/;

const cleanups: Array<() => Promise<void>> = [];
beforeEach(() => {
  // With no API server, every step is logged as an event line; the assertions say what matters.
  vi.stubEnv('KEYPORTAL_LOG', 'silent');
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
  vi.unstubAllEnvs();
});

interface OutboxMail {
  file: string;
  raw: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  const list = field === undefined ? [] : Array.isArray(field) ? field : [field];
  return list.flatMap((a) => a.value.map((v) => v.address ?? ''));
}

async function embedded(keyDelivery: 'email' | 'portal' = 'email') {
  const root = await mkdtemp(path.join(tmpdir(), 'keyportal-embedded-'));
  const dirs = { requests: path.join(root, 'requests'), gateway: path.join(root, 'gateway'), outbox: path.join(root, 'outbox') };
  // Everything but the catalog and the chain is left to the schema's defaults (resync 60 s,
  // concurrency 4): only the store's own change events can make these tests finish in time.
  const config: Config = parseConfig(
    {
      portal: { publicUrl: 'http://portal.test:3000' },
      models: TEST_MODELS,
      approvals: {
        default: 'review',
        notify: ['approvers@example.com'],
        plugins: TEST_PLUGINS,
      },
      gateway: { type: 'local', dir: dirs.gateway },
      mail: { from: 'Keyportal <keys@example.com>', keyDelivery, outbox: dirs.outbox },
      store: { type: 'local', dir: dirs.requests },
    },
    // No secrets at all: the embedded defaults need none.
    { source: 'test', env: {}, checkPlugin: checkPluginEntry },
  );

  let parts: LoopParts | undefined;
  let store: RequestStore = createStore(config.store);
  /** Builds the loop as the server does at start-up, with a spy on every reconcile it finishes. */
  const start = () => {
    parts = buildLoop(config, store, {});
    vi.spyOn(parts.reconciler, 'reconcile');
    parts.loop.start();
    return parts;
  };
  const stop = async () => {
    await parts?.loop.stop();
    parts = undefined;
  };
  /** A process restart: the loop stops, and a new store and loop are built on the same folders. */
  const restart = async () => {
    await stop();
    store = createStore(config.store);
    return start();
  };
  start();
  cleanups.push(async () => {
    await stop();
    await rm(root, { recursive: true, force: true });
  });

  const outbox = async (): Promise<OutboxMail[]> => {
    const names = (await readdir(dirs.outbox).catch(() => [] as string[])).filter((n) => n.endsWith('.eml') && !n.startsWith('.')).sort();
    return Promise.all(
      names.map(async (name) => {
        const file = path.join(dirs.outbox, name);
        const raw = await readFile(file, 'utf8');
        const mail = await simpleParser(raw);
        return { file, raw, to: addresses(mail.to), subject: mail.subject ?? '', text: mail.text ?? '', html: typeof mail.html === 'string' ? mail.html : '' };
      }),
    );
  };
  const mailsTo = async (address: string) => (await outbox()).filter((m) => m.to.includes(address));
  /** Every file under the gateway's folder, by name, with its contents. */
  const gatewayFiles = async (): Promise<Map<string, string>> => {
    const names = await readdir(dirs.gateway, { recursive: true, withFileTypes: true }).catch(() => []);
    const files = new Map<string, string>();
    for (const d of names) {
      if (!d.isFile()) continue;
      const file = path.join(d.parentPath, d.name);
      files.set(path.relative(dirs.gateway, file), await readFile(file, 'utf8'));
    }
    return files;
  };
  const gatewayKeys = async (): Promise<Record<string, { key_alias: string; models: string[]; user_id: string; metadata: Record<string, unknown> }>> => {
    const text = (await gatewayFiles()).get('keys.json');
    return text ? JSON.parse(text) : {};
  };
  const settled = (id: string, state: State, timeoutMs = 10_000) =>
    until(
      async () => {
        const r = await store.get(id);
        return r.state === state && r.notified === state ? r : undefined;
      },
      `request ${id} to be ${state} and its email in the outbox`,
      timeoutMs,
    );
  /** Resolves once the running loop has finished reconciling `id` at least once. */
  const reconciled = (id: string) =>
    until(
      async () => {
        const spy = vi.mocked(parts!.reconciler.reconcile);
        const calls = spy.mock.calls.map((args, i) => ({ id: args[0], result: spy.mock.results[i] }));
        const done = calls.filter((c) => c.id === id && c.result?.type === 'return');
        if (done.length === 0) return false;
        await Promise.all(done.map((c) => c.result?.value));
        return true;
      },
      `the loop to reconcile ${id}`,
    );

  return { dirs, config, store: () => store, restart, outbox, mailsTo, gatewayFiles, gatewayKeys, settled, reconciled };
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The key an "is ready" email carries. */
function keyIn(text: string | undefined): string {
  const key = /API key: (\S+)/.exec(text ?? '')?.[1];
  if (!key) throw new Error(`no key in the email: ${text ?? '(no email)'}`);
  return key;
}

describe('the approval loop on the embedded defaults (local folder, local gateway, outbox)', () => {
  it('a whitelisted request is issued a marked development key, and one outbox message holds it', async () => {
    const w = await embedded('email');
    const { request, created } = await w.store().create({ email: 'ada@example.com', model: 'gpt-4o' });
    expect(created).toBe(true);
    const issued = await w.settled(request.id, 'issued');
    expect(issued).toMatchObject({ decidedBy: 'plugin:whitelist' });
    expect(issued.expiresAt).toMatch(/Z$/);

    const key = keyIn((await w.mailsTo('ada@example.com'))[0]?.text);
    expect(key).toMatch(DEV_KEY);
    // Delivered by email: the request file keeps only the hash (files 0600 in a 0700 folder).
    expect(issued.keySha256).toBe(sha256(key));
    await until(async () => !(await w.store().get(request.id)).hasKey, 'the delivered key to be erased');
    expect(await w.store().readKey(request.id)).toBeUndefined();

    // Registered at the stand-in gateway under its hash, exactly once.
    const keys = await w.gatewayKeys();
    expect(Object.keys(keys)).toEqual([sha256(key as string)]);
    expect(keys[sha256(key as string)]).toMatchObject({
      key_alias: `keyportal-${request.id}`,
      models: ['gpt-4o'],
      user_id: 'ada@example.com',
      metadata: { request_id: request.id },
    });

    const all = await w.outbox();
    expect(all).toHaveLength(1);
    const [mail] = all;
    expect(mail?.to).toEqual(['ada@example.com']);
    expect(mail?.subject).toBe('Your API key for GPT-4o is ready');
    expect(mail?.text).toContain(`API key: ${key}`);
    expect(mail?.html).toContain(key);
    expect(mail?.text).toContain('Gateway: http://localhost:4000');
  });

  it('portal delivery: the outbox message links to the request and never holds the key', async () => {
    const w = await embedded('portal');
    const { request } = await w.store().create({ email: 'kai@example.com', model: 'gpt-4o-mini' });
    await w.settled(request.id, 'issued');
    const key = await w.store().readKey(request.id);
    expect(key).toMatch(DEV_KEY);

    const mails = await w.mailsTo('kai@example.com');
    expect(mails).toHaveLength(1);
    const [mail] = mails;
    expect(mail?.subject).toBe('Your API key for GPT-4o mini is ready');
    expect(mail?.text).toContain(`http://portal.test:3000/requests/${request.id}`);
    expect(mail?.html).toContain(`http://portal.test:3000/requests/${request.id}`);
    expect(mail?.text).not.toContain(key as string);
    expect(mail?.html).not.toContain(key as string);
    // Not even in a transfer encoding of the file as written.
    expect(mail?.raw).not.toContain(key as string);
    expect(mail?.raw).not.toContain(Buffer.from(key as string).toString('base64'));
  });

  it('a blacklisted request is denied: one outbox message with the reason, no key anywhere', async () => {
    const w = await embedded('email');
    const { request } = await w.store().create({ email: 'bob@example.com', model: 'internal/secret-model' });
    const denied = await w.settled(request.id, 'denied');
    expect(denied).toMatchObject({ decidedBy: 'plugin:blacklist', reason: 'Internal models are closed.', hasKey: false });
    expect(await w.store().readKey(request.id)).toBeUndefined();
    expect(await w.gatewayKeys()).toEqual({});

    const all = await w.outbox();
    expect(all).toHaveLength(1);
    expect(all[0]?.to).toEqual(['bob@example.com']);
    expect(all[0]?.subject).toBe('Your Internal <b>secret</b> model key request was denied');
    expect(all[0]?.text).toContain('Reason: Internal models are closed.');
  });

  it('a request held for review and approved through the store, as the portal does, gets a key and one email', async () => {
    const w = await embedded('email');
    const { request } = await w.store().create({ email: 'dan@example.com', model: 'experimental' });
    const held = await w.settled(request.id, 'in-review');
    expect(held.hasKey).toBe(false);
    expect(await w.gatewayKeys()).toEqual({});
    const notices = await w.mailsTo('approvers@example.com');
    expect(notices).toHaveLength(1);
    expect(notices[0]?.subject).toBe('Key request for Experimental waits for review');
    expect(await w.mailsTo('dan@example.com')).toHaveLength(0);

    await w.store().update(held, {
      state: 'approved',
      decidedBy: 'user:approver@example.com',
      decidedAt: rfc3339(new Date()),
      reason: 'Approved for the pilot',
    });
    const issued = await w.settled(request.id, 'issued');
    // The portal recorded who decided, so the loop must not rewrite it as a kubectl edit.
    expect(issued).toMatchObject({ decidedBy: 'user:approver@example.com', reason: 'Approved for the pilot' });
    const key = keyIn((await w.mailsTo('dan@example.com'))[0]?.text);
    expect(key).toMatch(DEV_KEY);
    expect(issued.keySha256).toBe(sha256(key));
    expect(Object.keys(await w.gatewayKeys())).toEqual([sha256(key as string)]);
    const mails = await w.mailsTo('dan@example.com');
    expect(mails).toHaveLength(1);
    expect(mails[0]?.text).toContain(`API key: ${key}`);
    expect(await w.mailsTo('approvers@example.com')).toHaveLength(1);
  });

  it('a restarted loop on the same folders sends no second email and mints no second key', async () => {
    const w = await embedded('email');
    const ok = (await w.store().create({ email: 'eve@example.com', model: 'anthropic/claude-3' })).request;
    const no = (await w.store().create({ email: 'fred@example.com', model: 'internal/secret-model' })).request;
    await w.settled(ok.id, 'issued');
    await w.settled(no.id, 'denied');
    const hash = (await w.store().get(ok.id)).keySha256 as string;
    const keysBefore = await w.gatewayKeys();
    const outboxBefore = (await w.outbox()).map((m) => m.file);
    expect(outboxBefore).toHaveLength(2);

    // Twice, so a restart right after a restart is covered as well.
    for (let i = 0; i < 2; i++) {
      await w.restart();
      // The new loop's first resync has looked at both requests again, to the end.
      await w.reconciled(ok.id);
      await w.reconciled(no.id);
    }
    // And it is really running: a new request goes all the way through it.
    const later = (await w.store().create({ email: 'gil@example.com', model: 'gpt-4o' })).request;
    await w.settled(later.id, 'issued');

    expect((await w.store().get(ok.id)).keySha256).toBe(hash);
    expect((await w.store().get(ok.id)).state).toBe('issued');
    const keysAfter = await w.gatewayKeys();
    expect(Object.keys(keysAfter)).toHaveLength(2);
    expect(keysAfter[hash]).toEqual(keysBefore[hash]);
    const outboxAfter = await w.outbox();
    expect(outboxAfter.filter((m) => m.to.includes('eve@example.com'))).toHaveLength(1);
    expect(outboxAfter.filter((m) => m.to.includes('fred@example.com'))).toHaveLength(1);
    expect(outboxAfter).toHaveLength(3);
  });

  it("the local gateway's folder holds only hashes of the keys, never a key itself", async () => {
    const w = await embedded('email');
    const ids = await Promise.all(
      ['gpt-4o', 'gpt-4o-mini', 'anthropic/claude-3'].map(async (model, i) => (await w.store().create({ email: `user${i}@example.com`, model })).request.id),
    );
    for (const id of ids) await w.settled(id, 'issued');
    const keys = await Promise.all(ids.map(async (id, i) => keyIn((await w.mailsTo(`user${i}@example.com`))[0]?.text)));
    for (const k of keys) expect(k).toMatch(DEV_KEY);
    expect(new Set(keys).size).toBe(3);

    const files = await w.gatewayFiles();
    expect([...files.keys()]).toEqual(['keys.json']);
    const stored = JSON.parse(files.get('keys.json') as string) as Record<string, unknown>;
    expect(Object.keys(stored).sort()).toEqual(keys.map(sha256).sort());
    for (const [name, text] of files) {
      for (const k of keys) {
        const secretPart = k.slice('sk-dev-keyportal-'.length);
        expect(text, `${name} must not hold a key`).not.toContain(secretPart);
        expect(text, `${name} must not hold a key in base64`).not.toContain(Buffer.from(k).toString('base64'));
      }
    }
  });
});

describe('budgets on the embedded defaults', () => {
  it('a top-up through the local store and the local gateway stand-in: held for a person, approved, the budget raised in keys.json, told in the outbox', async () => {
    const e = await embedded();
    const store = e.store();
    const { request: key } = await store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    const issued = await e.settled(key.id, 'issued');
    const hash = issued.keySha256 as string;
    expect((await e.gatewayKeys())[hash]).toMatchObject({ max_budget: 10 });
    const { request: topUp } = await store.create({ email: 'ada@example.com', model: 'gpt-4o', topsUp: key.id, topUp: { amount: 2.5 } });
    // The test chain's whitelist approves gpt-4o keys, not money: a person decides.
    const held = await e.settled(topUp.id, 'in-review');
    await store.update(held, { state: 'approved', decision: 'approved', decidedBy: 'user:approver@example.com', decidedAt: rfc3339(new Date()), reason: 'ok' });
    const applied = await e.settled(topUp.id, 'issued');
    expect(applied.budgetMove).toEqual({ from: 10, to: 12.5 });
    expect((await e.gatewayKeys())[hash]).toMatchObject({ max_budget: 12.5 });
    expect((await e.mailsTo('ada@example.com')).map((m) => m.subject)).toContain('Your GPT-4o top-up was applied');
  });
});
