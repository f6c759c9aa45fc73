import { z } from 'zod';

/**
 * `approvals.policies`: who must approve a request held for review, per tier of models
 * (lib/approval/policy.ts decides from a policy and the reviews alone). Without any, every
 * model has the default policy: one approval from one of `approvals.approvers`, as before.
 */

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a name of a-z, 0-9 and -, such as "expensive"');

/** Who may review a stage: email globs, OIDC groups, the requester's manager, signed webhook callers. */
export const approverSpecSchema = z.strictObject({
  emails: z.array(z.string().min(1)).default([]),
  groups: z.array(z.string().min(1)).default([]),
  /** The requester's manager (from auth.oidc.managerClaim at request time, or the http plugin's answer). */
  manager: z.boolean().default(false),
  /** Callers of the approval webhook (KEYPORTAL_WEBHOOK_SECRETS) whose decision counts as a review here. */
  webhooks: z.array(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/)).default([]),
});
export type ApproverSpecConfig = z.infer<typeof approverSpecSchema>;

const stageSchema = z
  .strictObject({
    /** Shown to people: "waiting for the platform team". */
    name: z.string().min(1).max(60),
    approvers: approverSpecSchema,
    /** Approvals this stage needs, each from a different person; defaults to the policy's `required`. */
    required: z.int().min(1).max(20).optional(),
  })
  .refine((s) => s.approvers.emails.length + s.approvers.groups.length + s.approvers.webhooks.length > 0 || s.approvers.manager, {
    path: ['approvers'],
    message: 'a stage nobody can approve: name emails, groups, webhooks, or manager: true',
  });

export const policySchema = z
  .strictObject({
    /** Approvals needed, each from a different person (per stage, when there are stages). */
    required: z.int().min(1).max(20).default(1),
    /** Who may approve when there are no stages; defaults to approvals.approvers. */
    approvers: approverSpecSchema.optional(),
    /** Ordered: each must be met before the next is asked. */
    stages: z.array(stageSchema).max(5).default([]),
    /** One denial denies (default); off, a denial needs as many as an approval does. */
    denyWins: z.boolean().default(true),
    /** The most a key of this tier may have as its budget (USD), top-ups included; a renewal is sized within it too. */
    maxBudget: z.number().positive().optional(),
    /** Where this tier's review messages go in Slack (else chat.slack.reviewChannel). */
    slackChannel: z.string().min(1).max(80).optional(),
    justification: z
      .strictObject({
        required: z.boolean().default(false),
        minLength: z.int().min(1).max(1000).default(10),
      })
      .default({ required: false, minLength: 10 }),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.stages.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: ['stages', i, 'name'], message: `two stages are named "${s.name}"` });
      seen.add(s.name);
      const most = mostApprovers(s.approvers);
      const required = s.required ?? p.required;
      if (most > 0 && required > most) ctx.addIssue({ code: 'custom', path: ['stages', i, 'required'], message: `needs ${required} approvals from different people, but at most ${most} can give one (${describe(s.approvers)})` });
    });
    if (!p.stages.length && p.approvers && p.required > mostApprovers(p.approvers)) {
      ctx.addIssue({ code: 'custom', path: ['required'], message: `needs ${p.required} approvals from different people, but at most ${mostApprovers(p.approvers)} can give one (${describe(p.approvers)})` });
    }
  });

/** How many different people could ever approve under this spec: unbounded with a group, a glob or a webhook. */
function mostApprovers(a: ApproverSpecConfig): number {
  if (a.groups.length || a.webhooks.length || a.emails.some((e) => /[*?[\]{}!]/.test(e))) return Number.POSITIVE_INFINITY;
  return new Set(a.emails.map((e) => e.toLowerCase())).size + (a.manager ? 1 : 0);
}

const describe = (a: ApproverSpecConfig): string => [...a.emails, ...(a.manager ? ['the manager'] : [])].join(', ') || 'nobody';
export type PolicyConfig = z.infer<typeof policySchema>;

export const policiesSchema = z.record(name, policySchema).default({});

/** `approvals.policyFor`: which policy a model gets, by glob, first match; a model's own `policy` wins. */
export const policyForSchema = z
  .array(
    z.strictObject({
      models: z.array(z.string().min(1)).min(1),
      policy: name,
    }),
  )
  .default([]);
