import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// What the browser downloads: every module a 'use client' file imports at run time (type-only
// imports are erased). zod or a Node built-in there costs every page that shows the component:
// one import of a zod-using helper once put 31 kB gzip on the status page and the queue, and a
// second 133 kB more (bench row "first-load JS").

const repo = path.resolve(import.meta.dirname, '../..');
const SERVER_ONLY = /^(zod|node:.*|nodemailer|@kubernetes\/client-node|next-auth\/next|micromatch)$/;

function resolve(from: string, spec: string): string | undefined {
  const base = spec.startsWith('@/') ? path.join(repo, spec.slice(2)) : spec.startsWith('.') ? path.join(path.dirname(from), spec) : undefined;
  if (!base) return undefined;
  return ['', '.ts', '.tsx', '/index.ts'].map((e) => base + e).find((f) => existsSync(f) && statSync(f).isFile());
}

/** The run-time import chains from `file` that end in a server-only package. */
function serverOnlyChains(file: string, chain: string[] = [], seen = new Set<string>()): string[] {
  if (seen.has(file)) return [];
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^;]*?\s+from\s+)?['"]([^'"]+)['"]/gms)) {
    if (m[1]) continue;
    const spec = m[2] as string;
    const here = [...chain, path.relative(repo, file)];
    if (SERVER_ONLY.test(spec)) found.push(`${here.join(' > ')} > ${spec}`);
    const next = resolve(file, spec);
    if (next) found.push(...serverOnlyChains(next, here, seen));
  }
  return found;
}

function clientFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return clientFiles(full);
    return /\.tsx?$/.test(e.name) && /^['"]use client['"]/m.test(readFileSync(full, 'utf8')) ? [full] : [];
  });
}

describe('client components', () => {
  it('there are some, so the check below checks something', () => {
    expect(clientFiles(path.join(repo, 'app')).length).toBeGreaterThan(10);
  });

  it('import nothing that only the server should load (zod, Node built-ins, the Kubernetes client, nodemailer)', () => {
    const chains = clientFiles(path.join(repo, 'app')).flatMap((f) => serverOnlyChains(f));
    expect(chains).toEqual([]);
  });
});
