import { z } from 'zod';
import { isPlaintextBeyondLoopback } from '../domain/loopback';

const hostSchema = z.string().min(1).max(253).regex(/^[A-Za-z0-9.:[\]-]+$/, 'expected a host name or IP address');

/**
 * `audit`: where the trail of every action goes (lib/audit/). Records wait in their request
 * Secret until the sink acknowledges them, so a sink that is down delays nothing but itself.
 */
export const auditSchema = z
  .strictObject({
    /** `stdout`: one CloudEvents JSON line per record (logs then go to stderr); `syslog`: RFC 5424 over TCP; `http`: signed batches. */
    sink: z.enum(['stdout', 'syslog', 'http']).default('stdout'),
    /** Every email address in a record becomes `sha256:<40 hex>` of it. */
    redactEmail: z.boolean().default(false),
    /** A request's records are shipped once its newest one is this old, so one acknowledgement write covers a burst of steps. */
    settleSeconds: z.number().min(0).max(300).default(2),
    /** At most this many records per batch sent. */
    batchSize: z.int().min(1).max(5000).default(500),
    syslog: z
      .strictObject({
        host: hostSchema,
        /** 601 is syslog over plain TCP (RFC 6587), 6514 over TLS (RFC 5425). */
        port: z.int().min(1).max(65_535).optional(),
        tls: z.boolean().default(false),
        /** PEM file of the CA that signed the syslog server's certificate (else the system's). */
        caFile: z.string().min(1).optional(),
        appName: z.string().regex(/^[!-~]{1,48}$/, 'expected 1 to 48 printable ASCII characters').default('keyportal'),
        /** RFC 5424 facility; records go at severity "informational". */
        facility: z.enum(['user', 'auth', 'authpriv', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7']).default('authpriv'),
        timeoutSeconds: z.number().positive().max(300).default(10),
      })
      .optional(),
    http: z
      .strictObject({
        url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }),
        /** Each batch is signed with KEYPORTAL_AUDIT_SECRET as the webhooks are (`x-keyportal-signature`, endpoint `audit`). */
        timeoutSeconds: z.number().positive().max(300).default(10),
        allowPlaintext: z.boolean().default(false),
      })
      .optional(),
  })
  .superRefine((a, ctx) => {
    if (a.sink === 'syslog' && !a.syslog) ctx.addIssue({ code: 'custom', path: ['syslog'], message: 'audit.sink is syslog: set audit.syslog.host (and port, tls)' });
    if (a.sink === 'http' && !a.http) ctx.addIssue({ code: 'custom', path: ['http'], message: 'audit.sink is http: set audit.http.url' });
    if (a.http && !a.http.allowPlaintext && isPlaintextBeyondLoopback(a.http.url)) {
      ctx.addIssue({ code: 'custom', path: ['http', 'url'], message: 'plain http:// beyond loopback would send the audit trail in the clear: use https:// (or allowPlaintext: true)' });
    }
  });
export type AuditConfig = z.infer<typeof auditSchema>;
export const AUDIT_DEFAULTS: AuditConfig = auditSchema.parse({});

/** `store.retention`: ended requests leave the store once their history has left through the audit sink. */
export const retentionSchema = z
  .strictObject({
    /** Denied, failed, revoked and expired requests are deleted this many days after they ended; 0 keeps them for ever. */
    endedDays: z.int().min(0).max(36_500).default(90),
    /** Deletions are spread out: at most this many a minute, by the Lease holder only. */
    maxDeletesPerMinute: z.int().min(1).max(6000).default(60),
  })
  .default({ endedDays: 90, maxDeletesPerMinute: 60 });
export type RetentionConfig = z.infer<typeof retentionSchema>;
