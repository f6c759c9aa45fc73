import { z } from 'zod';
import { LIFECYCLE_DEFAULTS, lifecycleSchema } from './lifecycle-schema';
import { chatSchema } from './chat-schema';
import { modelIdSchema } from '../domain/key-request';
import { isLoopbackHost, isPlaintextBeyondLoopback } from '../domain/loopback';
import { AUDIT_DEFAULTS, auditSchema, retentionSchema } from './audit-schema';
import { matchesModel } from '../approval/patterns';
import { policiesSchema, policyForSchema } from './policy-schema';

/**
 * Durations as LiteLLM parses them (litellm_core_utils/duration_parser.py `duration_in_seconds`):
 * a count of s, m, h, d or w, or exactly `1mo` (a calendar month). Any other count of months
 * makes LiteLLM answer 500 at mint time, so it is refused here, naming the field.
 */
const durationSchema = z
  .string()
  .regex(/^[1-9]\d*(s|m|h|d|w|mo)$/, 'expected a duration such as "30d", "12h", "1w" or "1mo"')
  .refine((d) => !d.endsWith('mo') || d === '1mo', 'LiteLLM understands only "1mo" for months (it answers 500 for other counts); use "60d" and the like');

const httpUrl = z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' });

export { isPlaintextBeyondLoopback };

/** Per-model limits, passed to the gateway's /key/generate under LiteLLM's own names. */
const limitsSchema = z.strictObject({
  duration: durationSchema.optional(),
  max_budget: z.number().positive().optional(),
  budget_duration: durationSchema.optional(),
  rpm_limit: z.int().positive().optional(),
  tpm_limit: z.int().positive().optional(),
  /** LiteLLM team the key belongs to (team budgets and model access), passed through when set. */
  team_id: z.string().min(1).max(200).optional(),
  /** LiteLLM's key types: "llm_api" (models only, the right one for employees), "management", "read_only", "default". */
  key_type: z.enum(['llm_api', 'management', 'read_only', 'default']).optional(),
});

export const modelSchema = z.strictObject({
  id: modelIdSchema,
  title: z.string().min(1).max(100),
  description: z.string().max(1000).default(''),
  /** A bundled icon name (`openai`, `anthropic`, ...) or an http(s) URL or a path under /public. */
  icon: z.string().max(300).optional(),
  featured: z.boolean().default(false),
  docsUrl: httpUrl.optional(),
  limits: limitsSchema.default({}),
  /** The approval policy of this model (a name in approvals.policies); else approvals.policyFor, else the default. */
  policy: z.string().min(1).max(63).optional(),
});

const pluginEntrySchema = z.strictObject({
  name: z.string().min(1),
  config: z.record(z.string(), z.unknown()).default({}),
});

export const approvalsSchema = z.strictObject({
  default: z.enum(['deny', 'review']).default('deny'),
  plugins: z.array(pluginEntrySchema).default([]),
  /** Who may decide in the portal: email globs, and/or membership of an OIDC group. */
  approvers: z
    .strictObject({
      emails: z.array(z.string().min(1)).default([]),
      groups: z.array(z.string().min(1)).default([]),
    })
    .default({ emails: [], groups: [] }),
  /** Addresses told when a request waits for review (approver globs are not addresses). */
  notify: z.array(z.email({ message: 'expected an email address' })).default([]),
  /** Four eyes: off, an approver cannot decide their own request (revoking one's own key is always allowed). */
  allowSelfApproval: z.boolean().default(false),
  /** Named tiers of who must approve (lib/config/policy-schema.ts); absent, one approval from an approver. */
  policies: policiesSchema,
  /** Which policy a model gets, by glob, first match (a model's own `policy` wins); else `defaultPolicy`. */
  policyFor: policyForSchema,
  /** The policy of a model nobody named one for; absent, one approval from one of `approvers`. */
  defaultPolicy: z.string().min(1).max(63).optional(),
  /** The signed webhook's decision: one `review` by webhook:<caller> (default), or an `override` that decides outright. */
  webhook: z.enum(['review', 'override']).default('review'),
  /** A request in review this many days is denied by keyportal ("Not reviewed within 14 days"); 0 lets it wait for ever. */
  reviewTimeoutDays: z.number().min(0).max(365).default(14),
  /** Approvers get one digest a day of what has waited this long for them. */
  remindAfterHours: z.number().positive().max(8760).default(24),
  /** What has waited this long also goes, in the daily digest, to `escalateTo`; off when absent. */
  escalateAfterHours: z.number().positive().max(8760).optional(),
  escalateTo: z.array(z.email({ message: 'expected an email address' })).default([]),
}).superRefine((a, ctx) => {
  if (a.escalateAfterHours !== undefined && a.escalateTo.length === 0) ctx.addIssue({ code: 'custom', path: ['escalateTo'], message: 'escalateAfterHours is set: name who the digest escalates to' });
  if (a.escalateAfterHours !== undefined && a.escalateAfterHours < a.remindAfterHours) ctx.addIssue({ code: 'custom', path: ['escalateAfterHours'], message: `escalate after the approvers were reminded: at least remindAfterHours (${a.remindAfterHours})` });
  if (a.reviewTimeoutDays > 0 && a.remindAfterHours >= a.reviewTimeoutDays * 24) ctx.addIssue({ code: 'custom', path: ['remindAfterHours'], message: `a reminder after the review deadline (${a.reviewTimeoutDays} days) would come too late` });
});

const gatewaySchema = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('litellm'),
      baseUrl: httpUrl,
      /** The address users point their clients at; defaults to baseUrl. */
      publicUrl: httpUrl.optional(),
      timeoutMs: z.int().positive().max(120_000).default(10_000),
      /** Plain http:// to a gateway beyond loopback sends the master key in the clear: only when said so (a warning at start-up). */
      allowPlaintext: z.boolean().default(false),
    })
    .refine((g) => g.allowPlaintext || !isPlaintextBeyondLoopback(g.baseUrl), {
      path: ['baseUrl'],
      message: 'plain http:// beyond loopback sends the master key in the clear: use https://, or set gateway.allowPlaintext: true knowingly (a mesh that encrypts pod traffic, say)',
    }),
  z.strictObject({
    type: z.literal('local'),
    publicUrl: httpUrl.default('http://localhost:4000'),
    /** Where the stand-in remembers its development keys (hashed). */
    dir: z.string().min(1).default('.data/gateway'),
  }),
]);

const smtpSchema = z.strictObject({
  host: z.string().min(1),
  port: z.int().min(1).max(65535).default(587),
  /** `tls`: TLS from the first byte (465); `starttls`: upgrade required; `none`: loopback tests only. */
  security: z.enum(['tls', 'starttls', 'none']).default('starttls'),
  user: z.string().optional(),
  /** PEM file of the CA that signed the server's certificate, for an internal CA. */
  caFile: z.string().optional(),
  /**
   * SMTP connections the pool keeps open at once. Each sends one message at a time, and a key
   * counts as issued once its email is out, so this bounds how fast keys go out (about 20 a
   * second per connection against the test SMTP server, docs/BENCHMARKS.md). Lower it for a
   * relay that allows few connections per account.
   */
  maxConnections: z.int().min(1).max(64).default(16),
}).refine((s) => s.security !== 'none' || isLoopbackHost(s.host), {
  path: ['security'],
  message: '"none" sends mail (and keys, with keyDelivery: email) in the clear: only to a loopback host; use "starttls" or "tls"',
});

const mailSchema = z
  .strictObject({
    from: z.string().min(3).default('Keyportal <keyportal@localhost>'),
    /** `email`: the key is in the message; `portal`: the message links to a one-time reveal. */
    keyDelivery: z.enum(['email', 'portal']).default('portal'),
    smtp: smtpSchema.optional(),
    outbox: z.string().min(1).optional(),
  })
  .refine((m) => !(m.smtp && m.outbox), { message: 'set either smtp or outbox, not both' });

const storeSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('kubernetes'),
    /** Defaults to the namespace the portal runs in. */
    namespace: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a Kubernetes namespace name')
      .max(63)
      .optional(),
    kubeconfig: z.string().optional(),
    retention: retentionSchema,
  }),
  z.strictObject({
    type: z.literal('local'),
    dir: z.string().min(1).default('.data/requests'),
    retention: retentionSchema,
  }),
]);

const loopSchema = z.strictObject({
  /** Off: the loop runs only in `npm run worker`, not inside the web server. */
  enabled: z.boolean().default(true),
  /** Kubernetes store only: one replica at a time holds the Lease and runs the loop. */
  leaderElection: z.boolean().default(true),
  resyncSeconds: z.number().positive().max(86_400).default(60),
  /** Requests reconciled at once: the work is waiting on the API server, the gateway and SMTP, not CPU (keep it at or above mail.smtp.maxConnections). */
  concurrency: z.int().min(1).max(128).default(32),
  retry: z
    .strictObject({
      initialSeconds: z.number().positive().default(1),
      maxSeconds: z.number().positive().default(300),
      /**
       * A mint the gateway keeps failing ends `failed` (with the last error, one Warning Event and
       * one email) once it has been retried this long; an email stops being retried after it too.
       * Revocations never give up: a key that may still work is never reported as gone.
       */
      giveUpAfterSeconds: z.number().positive().max(30 * 86_400).default(86_400),
    })
    .refine((r) => r.maxSeconds >= r.initialSeconds, { message: 'maxSeconds must be at least initialSeconds' })
    .refine((r) => r.giveUpAfterSeconds >= r.initialSeconds, { message: 'giveUpAfterSeconds must be at least initialSeconds' })
    .default({ initialSeconds: 1, maxSeconds: 300, giveUpAfterSeconds: 86_400 }),
  /** A replica's claim on sending an email stands this long before another may send it. */
  notifyClaimSeconds: z.number().positive().max(3600).default(120),
  /** A kubectl denial waits this long for a `kubectl annotate … reason=` before the email. */
  kubectlGraceSeconds: z.number().min(0).max(600).default(15),
  /**
   * Days before a key's expiry on which its requester is reminded (each once, with a link to
   * renew); [] sends none. Descending, so the list reads in the order the emails go out.
   */
  reminders: z
    .array(z.int('each reminder is a whole number of days').positive('each reminder is at least 1 day before expiry').max(365, 'a reminder is at most 365 days before expiry'))
    .max(10, 'at most 10 reminders')
    .refine((days) => new Set(days).size === days.length, { message: 'each reminder day appears once' })
    .refine((days) => days.every((d, i) => i === 0 || (days[i - 1] as number) > d), { message: 'list the reminder days from most to fewest, e.g. [7, 3, 1]' })
    .default([7, 3, 1]),
  /**
   * Every this many minutes the Lease holder compares the gateway's keyportal- keys with the
   * store (lib/loop/sweep.ts); 0 turns the periodic sweep off (`keyportal sweep` still runs it).
   */
  gatewaySweepMinutes: z.number().min(0).max(10_080).default(60),
  /** What the sweep does with a key no issued request owns: `report` (a Warning and the metric) or `delete` it at the gateway. */
  orphans: z.enum(['delete', 'report']).default('report'),
});

/**
 * Prometheus metrics on a port of their own, apart from the portal's pages: a scrape never
 * competes with users, and the port can be left out of the Ingress and the NetworkPolicy's
 * public side. Off (null) by default; loopback unless a host is given.
 */
const metricsSchema = z.strictObject({
  port: z.int().min(1).max(65535).nullable().default(null),
  host: z.string().min(1).max(253).default('127.0.0.1'),
});

const portalSchema = z.strictObject({
  /** Where users reach the portal; links in emails start here. */
  publicUrl: httpUrl.default('http://localhost:3000'),
  title: z.string().min(1).max(60).default('Keyportal'),
  /** New requests per user in a sliding window, counted from the store so every replica agrees. */
  rateLimit: z
    .strictObject({
      requests: z.int().min(1).max(10_000).default(10),
      windowSeconds: z.int().min(1).max(30 * 86_400).default(3600),
    })
    .default({ requests: 10, windowSeconds: 3600 }),
  /**
   * Portal delivery: a key its requester has not revealed this many days after it was issued is
   * deleted at the gateway and the request revoked, so no key waits at rest for ever.
   */
  revealWindowDays: z.number().positive().max(90).default(7),
  /** The approval webhook refuses signatures further than this from the server's clock. */
  webhookToleranceSeconds: z.int().min(10).max(3600).default(300),
  /**
   * A trial install (the chart's trial values): every page says so in a banner, the log warns at
   * start-up, and minted keys start `sk-trial-`, so none is ever mistaken for a real one.
   */
  trial: z.boolean().default(false),
  /**
   * How long the portal keeps an idle client connection open. Longer than the proxies in front
   * of it keep theirs (ingress-nginx's upstream keep-alive and AWS ALB: 60 s): the one that
   * closes first must be the proxy, or a request it sends as the portal closes fails (a 502).
   */
  keepAliveSeconds: z.int().min(1).max(3600).default(65),
});

const authSchema = z.strictObject({
  /** The production sign-in. The client secret comes from OIDC_CLIENT_SECRET, never from here. */
  oidc: z
    .strictObject({
      issuer: httpUrl,
      clientId: z.string().min(1),
      /** Shown on the sign-in button. */
      name: z.string().min(1).max(40).default('Single sign-on'),
      /** The ID-token claim listing the user's groups, matched against approvals.approvers.groups. */
      groupsClaim: z.string().min(1).default('groups'),
      /**
       * Approver rights that come from a group last this long after sign-in; then the approver
       * signs in again (silently, while the identity provider's session lasts) and the groups are
       * read afresh. So a removal from the group takes effect within this bound.
       */
      groupsMaxAgeSeconds: z.int().min(60).max(86_400).default(900),
      /**
       * Some identity providers never send `email_verified`. Only for those, and only knowingly:
       * with this on, an unverified address is taken as the requester's identity.
       */
      trustUnverifiedEmail: z.boolean().default(false),
      /**
       * A group a person must hold to keep keys: signing in without it revokes every key they
       * hold (and closes their open requests) through the offboarding path, and refuses the sign-in.
       */
      requiredGroup: z.string().min(1).max(256).optional(),
      /** The ID-token claim holding the requester's manager's email (approval stages with `manager: true`). */
      managerClaim: z.string().min(1).max(100).optional(),
      /** Plain http:// to an identity provider beyond loopback lets tokens and the client secret be read on the way: only when said so. */
      allowPlaintext: z.boolean().default(false),
    })
    .refine((o) => o.allowPlaintext || !isPlaintextBeyondLoopback(o.issuer), {
      path: ['issuer'],
      message: 'plain http:// beyond loopback lets the client secret and ID tokens be read on the way: use https://, or set auth.oidc.allowPlaintext: true knowingly',
    })
    .optional(),
  /**
   * Sign in by typing an email, with no password: for the embedded default only. Unset, it is on
   * exactly when the store and the gateway are both local; a real deployment must opt in.
   */
  devSignIn: z.boolean().optional(),
  /**
   * A session lasts this long from sign-in, however often it is used (not a sliding window);
   * every use is also checked against the offboarding records.
   */
  sessionMaxAgeHours: z.number().positive().max(720).default(8),
});

/** The whole of config.yaml, after environment overrides. Secrets are never part of it. */
export const configFileSchema = z.strictObject({
  portal: portalSchema.default({
    publicUrl: 'http://localhost:3000',
    title: 'Keyportal',
    rateLimit: { requests: 10, windowSeconds: 3600 },
    revealWindowDays: 7,
    webhookToleranceSeconds: 300,
    trial: false,
    keepAliveSeconds: 65,
  }),
  auth: authSchema.default({ sessionMaxAgeHours: 8 }),
  models: z
    .array(modelSchema)
    .min(1, 'the catalog needs at least one model')
    .superRefine((models, ctx) => {
      const seen = new Set<string>();
      models.forEach((m, i) => {
        if (seen.has(m.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate model id "${m.id}"` });
        seen.add(m.id);
      });
    }),
  approvals: approvalsSchema.default({ default: 'deny', plugins: [], approvers: { emails: [], groups: [] }, notify: [], allowSelfApproval: false, policies: {}, policyFor: [], webhook: 'review', reviewTimeoutDays: 14, remindAfterHours: 24, escalateTo: [] }),
  gateway: gatewaySchema.default({ type: 'local', publicUrl: 'http://localhost:4000', dir: '.data/gateway' }),
  mail: mailSchema.default({ from: 'Keyportal <keyportal@localhost>', keyDelivery: 'portal' }),
  store: storeSchema.default({ type: 'local', dir: '.data/requests', retention: { endedDays: 90, maxDeletesPerMinute: 60 } }),
  audit: auditSchema.default(AUDIT_DEFAULTS),
  loop: loopSchema.default({
    enabled: true,
    leaderElection: true,
    resyncSeconds: 60,
    concurrency: 32,
    retry: { initialSeconds: 1, maxSeconds: 300, giveUpAfterSeconds: 86_400 },
    notifyClaimSeconds: 120,
    kubectlGraceSeconds: 15,
    reminders: [7, 3, 1],
    gatewaySweepMinutes: 60,
    orphans: 'report',
  }),
  metrics: metricsSchema.default({ port: null, host: '127.0.0.1' }),
  chat: chatSchema.default({}),
  lifecycle: lifecycleSchema.default(LIFECYCLE_DEFAULTS),
}).superRefine((c, ctx) => {
  // Every policy a model or a glob names exists, and every glob names a model of the catalog.
  const known = new Set(Object.keys(c.approvals.policies));
  const unknown = (name: string) => `no policy "${name}" in approvals.policies${known.size ? ` (there are: ${[...known].join(', ')})` : ''}`;
  c.models.forEach((m, i) => {
    if (m.policy && !known.has(m.policy)) ctx.addIssue({ code: 'custom', path: ['models', i, 'policy'], message: unknown(m.policy) });
  });
  c.approvals.policyFor.forEach((p, i) => {
    if (!known.has(p.policy)) ctx.addIssue({ code: 'custom', path: ['approvals', 'policyFor', i, 'policy'], message: unknown(p.policy) });
    p.models.forEach((glob, j) => {
      if (!c.models.some((m) => matchesModel(m.id, [glob]))) ctx.addIssue({ code: 'custom', path: ['approvals', 'policyFor', i, 'models', j], message: `"${glob}" matches no model of the catalog` });
    });
  });
  const slack = c.chat.slack;
  if (slack && slack.apiUrl && isPlaintextBeyondLoopback(slack.apiUrl)) ctx.addIssue({ code: 'custom', path: ['chat', 'slack', 'apiUrl'], message: 'plain http:// beyond loopback would send the bot token in the clear: use https://' });
  // An ended request deleted before its requester could have revealed its key would take the
  // reveal page's answer with it: retention never undercuts the reveal window.
  const { endedDays } = c.store.retention;
  if (endedDays > 0 && endedDays < c.portal.revealWindowDays) {
    ctx.addIssue({ code: 'custom', path: ['store', 'retention', 'endedDays'], message: `${endedDays} is below portal.revealWindowDays (${c.portal.revealWindowDays}): keep ended requests at least as long as a key may be revealed, or 0 to keep them for ever` });
  }
  if (c.approvals.defaultPolicy && !known.has(c.approvals.defaultPolicy)) ctx.addIssue({ code: 'custom', path: ['approvals', 'defaultPolicy'], message: unknown(c.approvals.defaultPolicy) });
});

export type ConfigFile = z.infer<typeof configFileSchema>;
export type ApprovalsConfig = ConfigFile['approvals'];
export type ModelConfig = z.infer<typeof modelSchema>;
export type MailConfig = z.infer<typeof mailSchema>;
export type StoreConfig = z.infer<typeof storeSchema>;
export type MetricsConfig = z.infer<typeof metricsSchema>;
