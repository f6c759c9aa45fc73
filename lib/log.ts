/**
 * One JSON line per event on stdout/stderr. Callers pass ids, states and messages, never a key,
 * token or password: nothing here could tell those apart, so nothing secret is ever handed in.
 */
type Level = 'info' | 'warn' | 'error';

export type Logger = (level: Level, msg: string, fields?: Record<string, unknown>) => void;

export const log: Logger = (level, msg, fields = {}) => {
  if (process.env.KEYPORTAL_LOG === 'silent') return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  // `stderr`: every line there, so a command's own output (lib/cli.ts) stays alone on stdout.
  if (level === 'info' && process.env.KEYPORTAL_LOG !== 'stderr') console.log(line);
  else console.error(line);
};
