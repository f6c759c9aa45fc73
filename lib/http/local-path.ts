const BASE = new URL('http://portal.invalid');

/**
 * A redirect target that stays on this site: a path of ours, or `/`. Browsers read `/\evil.example`
 * and `/<tab>/evil.example` as `//evil.example` (another site), so a backslash or any control
 * character refuses the path outright, and what is left must resolve to our own origin.
 */
export function localPath(raw: string | undefined): string {
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(raw)) return '/';
  const url = new URL(raw, BASE);
  return url.origin === BASE.origin ? `${url.pathname}${url.search}${url.hash}` : '/';
}
