import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { type Ran, exec } from './helm';

const run = promisify(execFile);

/**
 * podman as these machines need it: runc, since crun refuses the hybrid cgroup layout, and
 * rlimits podman may set without CAP_SYS_RESOURCE (its defaults are above them): this process's
 * open-files limit and 4,096 processes (scripts/image.sh does the same).
 */
export const PODMAN_GLOBAL = ['--runtime', 'runc'];
const files = execFileSync('bash', ['-c', 'ulimit -Hn']).toString().trim();
export const PODMAN_LIMITS = ['--ulimit', `nofile=${files}:${files}`, '--ulimit', 'nproc=4096:4096'];

/** podman, resolving with its exit code and output instead of throwing on a non-zero exit. */
export function podmanStatus(...args: string[]): Promise<Ran> {
  return exec('podman', [...PODMAN_GLOBAL, ...args]);
}

/** podman that must succeed; resolves with its stdout. */
export async function podman(...args: string[]): Promise<string> {
  const r = await podmanStatus(...args);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/**
 * The image under test: `npm test` builds it first (scripts/image.sh) and passes its reference;
 * run alone, this test builds it itself.
 */
export async function testImage(): Promise<string> {
  const given = process.env.KEYPORTAL_TEST_IMAGE;
  if (given) return given;
  if (process.env.KEYPORTAL_TEST_IMAGE_FAILED) throw new Error('`npm run image` failed before the tests ran; its output is above them');
  const { stdout } = await run('bash', ['scripts/image.sh'], { timeout: 20 * 60_000, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim().split('\n').at(-1) ?? '';
}
