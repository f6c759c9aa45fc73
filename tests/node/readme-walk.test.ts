import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { helmEnv, withHelmHome } from '../helpers/helm';
import { signInWithOidc } from '../helpers/oidc-client';
import { postRequest } from '../helpers/portal-client';
import { until } from '../helpers/wait';

// The README's "Deployment" section, run as written on the test cluster's real node: every
// ```sh block marked <!-- walk -->, in order, with only the placeholders the section tells the
// reader to replace, and in between what the text asks of the reader in a browser. A README
// that drifts from what works fails here.

const repo = path.resolve(import.meta.dirname, '../..');
withHelmHome();
const PORTAL = 'http://127.0.0.1:3000';
/** The only placeholder the section tells the reader to replace. */
const PLACEHOLDERS = ['<id>'];

function walkBlocks(): string[] {
  const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Deployment\n'));
  const end = section.indexOf('\n## ', 5);
  const text = end > 0 ? section.slice(0, end) : section;
  return [...text.matchAll(/<!-- walk -->\s*```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

const background: ChildProcess[] = [];
const log = path.join(tmpdir(), `readme-walk-${Date.now()}.log`);

/** Runs one block with bash as a reader's shell would (errors stop it); a block ending in `&` leaves its job running. */
async function run(block: string, env: Record<string, string>): Promise<string> {
  const out = path.join(tmpdir(), `readme-walk-${Date.now()}-${Math.random().toString(36).slice(2)}.out`);
  const fd = openSync(out, 'w');
  // A process group of its own, so a job the block leaves in the background is stopped at the end.
  const child = spawn('bash', ['-euo', 'pipefail', '-c', block], { cwd: repo, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  if (/&\s*$/.test(block.trim())) background.push(child);
  const started = Date.now();
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  console.info(`readme walk: a block took ${Date.now() - started} ms: ${block.split('\n')[0]}`);
  const text = readFileSync(out, 'utf8');
  appendFileSync(log, `\n$ ${block}\n${text}`);
  if (code !== 0) throw new Error(`the README's block exited ${code}:\n${block}\n--- output:\n${text.slice(-4000)}`);
  return text;
}

afterAll(() => {
  for (const child of background) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
});

describe('the README\'s Deployment section, as written', () => {
  it('builds, loads, installs the trial, issues and emails a first key, shows it with kubectl, upgrades and uninstalls', async () => {
    const blocks = walkBlocks();
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    for (const b of blocks) {
      const placeholders = [...b.matchAll(/<[a-z][a-z-]*>/g)].map((m) => m[0]);
      expect(placeholders.filter((p) => !PLACEHOLDERS.includes(p)), b).toEqual([]);
    }
    const env = {
      PATH: `${inject('clusterBin')}:${process.env.PATH ?? ''}`,
      KUBECONFIG: inject('kubeconfig'),
      KEYPORTAL_CLUSTER_DIR: inject('nodeClusterDir'),
      ...helmEnv(),
    };
    const figures: Record<string, number> = {};
    const [build, load, install, forward, inspect, upgrade, ...rest] = blocks;
    expect(rest, 'the walk has exactly the blocks this test knows what to do between').toEqual([]);

    await run(build as string, env);
    await run(load as string, env);
    const installedAt = Date.now();
    const installed = await run(install as string, env);
    figures['helm install --wait (and helm test)'] = Date.now() - installedAt;
    // helm test's own report: the stand-ins answer from inside the cluster.
    expect(installed).toMatch(/Phase:\s+Succeeded/);
    expect(installed).toMatch(/ok\s+gateway: https:\/\/keyportal-trial-gateway:4000 answers/);
    expect(installed).toMatch(/ok\s+mail: SMTP keyportal-trial-smtp:2525 accepts us \(starttls/);

    await run(forward as string, env);
    await until(async () => (await fetch(`${PORTAL}/api/readyz`).catch(() => undefined))?.ok, 'the portal through the port-forward', 30_000, 250);
    // What the section asks of the reader: sign in with any email at trial.example, any password,
    // and request GPT-4o mini.
    const cookie = await signInWithOidc(PORTAL, 'walker@trial.example');
    const page = await fetch(`${PORTAL}/`, { headers: { cookie } });
    expect(await page.text()).toContain('Trial installation');
    const { status, id } = await postRequest(PORTAL, cookie, 'gpt-4o-mini');
    expect(status).toBe(201);
    await until(
      async () => {
        const res = await fetch(`${PORTAL}/api/requests/${id}`, { headers: { cookie } });
        return ((await res.json()) as { request?: { state?: string } }).request?.state === 'issued';
      },
      'the request to be issued',
      60_000,
      250,
    );
    figures['helm install to the first key issued'] = Date.now() - installedAt;

    const shown = await run((inspect as string).replaceAll('<id>', id as string), env);
    expect(shown).toMatch(/TRIAL smtp: mail received/);
    expect(shown).toContain('walker@trial.example');
    expect(shown).toContain('is ready');
    expect(shown).toMatch(new RegExp(`keyreq-${id}\\s+Opaque\\s+\\d+\\s+\\S+\\s+issued`));
    // One Event per pass of the loop (lib/loop/events.ts): minted and emailed in one pass is one
    // KeyMinted Event saying both; an email sent in a later pass is an EmailSent Event of its own.
    expect(shown).toMatch(/KeyMinted[^\n]*emailed the requester|EmailSent/);

    await run(upgrade as string, env);
    console.info(`readme walk figures (ms): ${JSON.stringify(figures)}; the walk's output: ${log}`);
  }, 20 * 60_000);
});
