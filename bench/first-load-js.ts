/**
 * First-load JS per page of the production build, as a browser fetches it: the root main files
 * every page loads, plus the client entry chunks of the root layout and of the page (from each
 * page's client reference manifest), each gzip-compressed at level 9 and counted once.
 * Polyfills are left out: they load only in browsers without ES modules (`nomodule`).
 *
 * `npx tsx bench/first-load-js.ts` after `next build` prints a table; the bench imports it.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export interface PageJs {
  page: string;
  files: number;
  gzipBytes: number;
}

const PAGES = ['/', '/requests', '/requests/[id]', '/approvals', '/signin', '/outbox'];

function entryFiles(nextDir: string, page: string): string[] {
  const dir = page === '/' ? '' : page;
  const manifest = path.join(nextDir, 'server/app', dir, 'page_client-reference-manifest.js');
  if (!existsSync(manifest)) throw new Error(`no client reference manifest for ${page} at ${manifest}; run next build first`);
  const text = readFileSync(manifest, 'utf8');
  const match = /"entryJSFiles":(\{.*?\})\s*[,}]/s.exec(text);
  if (!match?.[1]) throw new Error(`cannot read entryJSFiles from ${manifest}`);
  const entries = JSON.parse(match[1]) as Record<string, string[]>;
  const key = `[project]/app${page === '/' ? '' : page}/page`;
  return [...(entries['[project]/app/layout'] ?? []), ...(entries[key] ?? [])];
}

export function firstLoadJs(repo: string): PageJs[] {
  const nextDir = path.join(repo, '.next');
  const build = JSON.parse(readFileSync(path.join(nextDir, 'build-manifest.json'), 'utf8')) as { rootMainFiles: string[] };
  const size = new Map<string, number>();
  const gz = (file: string) => {
    let n = size.get(file);
    if (n === undefined) size.set(file, (n = gzipSync(readFileSync(path.join(nextDir, file)), { level: 9 }).length));
    return n;
  };
  return PAGES.map((page) => {
    const files = [...new Set([...build.rootMainFiles, ...entryFiles(nextDir, page)])].filter((f) => f.endsWith('.js'));
    return { page, files: files.length, gzipBytes: files.reduce((sum, f) => sum + gz(f), 0) };
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const repo = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '..'));
  for (const p of firstLoadJs(repo)) console.log(`${p.page.padEnd(16)} ${(p.gzipBytes / 1024).toFixed(1).padStart(7)} kB gzip in ${p.files} files`);
}
