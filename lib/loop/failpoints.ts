/**
 * Crash points for the kill tests: `KEYPORTAL_FAILPOINT=<name>` makes the process SIGKILL itself
 * when it reaches that point, the way a node failure would, between two steps of minting. Unset
 * (always, outside those tests) it does nothing.
 */
export type FailpointName = 'after-key-stored' | 'after-gateway-generate' | 'after-issued' | 'after-email-sent' | 'after-reminder-claimed' | 'after-reminder-sent' | 'after-audit-sent';

export function failpoint(name: FailpointName): void {
  if (process.env.KEYPORTAL_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}
