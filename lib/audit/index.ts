import { readFileSync } from 'node:fs';
import type { Config } from '../config/load';
import type { Secrets } from '../config/env';
import type { AuditSink } from './sink';
import { HttpSink } from './sinks/http';
import { StdoutSink } from './sinks/stdout';
import { SyslogSink } from './sinks/syslog';

/**
 * The sink `audit.sink` names. With `stdout` the process's own log lines move to stderr, so stdout
 * carries the audit trail alone (a log pipeline can route the two streams apart).
 */
export function createAuditSink(config: Pick<Config, 'audit'>, secrets: Secrets): AuditSink {
  const a = config.audit;
  if (a.sink === 'syslog' && a.syslog) {
    const { host, port, tls, caFile, appName, facility, timeoutSeconds } = a.syslog;
    return new SyslogSink({ host, ...(port !== undefined ? { port } : {}), tls, ...(caFile ? { ca: readFileSync(caFile, 'utf8') } : {}), appName, facility, timeoutSeconds });
  }
  if (a.sink === 'http' && a.http) {
    const secret = secrets.KEYPORTAL_AUDIT_SECRET;
    if (!secret) throw new Error('audit.sink is http: set KEYPORTAL_AUDIT_SECRET (or KEYPORTAL_AUDIT_SECRET_FILE) to sign the batches');
    return new HttpSink({ url: a.http.url, timeoutSeconds: a.http.timeoutSeconds, secret });
  }
  process.env.KEYPORTAL_LOG ??= 'stderr';
  return new StdoutSink();
}
