import { z } from 'zod';
import { signatureHeader, SIGNATURE_HEADER } from '@/lib/crypto/signature';
import { commonOptionsSchema, definePlugin, outcomeSchema } from '@/lib/approval/types';
import { isLoopbackHost } from '@/lib/domain/loopback';
import { readCapped } from '@/lib/io/read-capped';

const MAX_REPLY_BYTES = 64 * 1024;
/**
 * Only variables named for plugins: a config file (or whoever edits it) must not be able to
 * point the plugin's token at the gateway master key, the SMTP password, NEXTAUTH_SECRET or the
 * webhook secrets and have the portal send it to an endpoint of their choosing.
 */
export const PLUGIN_ENV_PREFIX = 'KEYPORTAL_PLUGIN_';
const envName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'expected the name of an environment variable')
  .refine((n) => n.startsWith(PLUGIN_ENV_PREFIX) && n.length > PLUGIN_ENV_PREFIX.length, { message: `must start with ${PLUGIN_ENV_PREFIX} (e.g. ${PLUGIN_ENV_PREFIX}HR_TOKEN): the portal's own secrets are never sent to a plugin's endpoint` });

/** The reply we expect; decisions are accepted in any case (`APPROVE`, `approve`). */
const replySchema = z.object({
  decision: z
    .string()
    .transform((d) => d.toLowerCase())
    .pipe(z.enum(['approve', 'deny', 'continue', 'review'])),
  reason: z.string().max(1000).optional(),
  /** The requester's manager's email, for policies whose stage asks the manager; anything else is ignored. */
  manager: z.string().max(320).optional().catch(undefined),
});

/**
 * Asks an external system (HR, ticketing): POSTs `{request_id, email, model, renews,
 * justification, manager, top_up, spend}` (`renews`: the id of the request a renewal renews, or
 * null; `top_up`: `{of, amount, until}` for a top-up; `spend`, with `sendSpend: true`:
 * `{last_30_days, live_keys, typical_monthly}` in USD, each null when unknown; the others null
 * when unknown) and expects `{decision, reason?, manager?}` (`manager`: the requester's
 * manager's email, which a policy's `manager` stage then asks). Errors, timeouts, non-2xx and malformed replies throw; the chain then
 * answers what `onError` says and records why.
 */
export default definePlugin({
  name: 'http',
  configSchema: commonOptionsSchema
    .extend({
      url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }),
      /**
       * Fail-open or fail-closed is a decision, not a default: what a timeout, an error or a
       * garbled reply answers must be written down (`continue`, `deny` or `review`).
       */
      onError: outcomeSchema.exclude(['approve'], { message: 'say what an unreachable or failing endpoint answers: "continue", "deny" or "review" (never "approve")' }),
      /** Plain http:// beyond this machine sends the request (and a bearer token) in the clear. */
      allowPlainHttp: z.boolean().default(false),
      /** Send the spend figures (`spend`), which cost the loop a gateway report per requester and model: only when the endpoint uses them. */
      sendSpend: z.boolean().default(false),
      auth: z
        .discriminatedUnion('type', [
          z.strictObject({ type: z.literal('bearer'), tokenEnv: envName }),
          z.strictObject({ type: z.literal('hmac'), secretEnv: envName }),
        ])
        .optional(),
    })
    .strict()
    .refine((c) => c.allowPlainHttp || !c.url.startsWith('http:') || isLoopbackHost(new URL(c.url).hostname), {
      path: ['url'],
      message: 'plain http:// is refused beyond loopback: use https://, or set allowPlainHttp: true knowingly',
    }),
  create(config, env) {
    const secret = config.auth ? env[config.auth.type === 'bearer' ? config.auth.tokenEnv : config.auth.secretEnv] : undefined;
    if (config.auth && !secret) {
      const name = config.auth.type === 'bearer' ? config.auth.tokenEnv : config.auth.secretEnv;
      throw new Error(`http plugin: environment variable ${name} (named by auth) is not set`);
    }
    const target = new URL(config.url);
    const where = `${target.origin}${target.pathname}`;
    return {
      wantsSpend: config.sendSpend,
      async decide(request, signal) {
        const body = JSON.stringify({
          request_id: request.id,
          email: request.email,
          model: request.model,
          renews: request.renews ?? null,
          justification: request.justification ?? null,
          manager: request.manager ?? null,
          top_up: request.topUp ? { of: request.topUp.of, amount: request.topUp.amount, until: request.topUp.until ?? null } : null,
          spend: config.sendSpend && request.spend
            ? { last_30_days: request.spend.last30Days, live_keys: request.spend.liveKeys.length, typical_monthly: request.spend.typicalMonthly }
            : null,
        });
        const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
        if (config.auth?.type === 'bearer') headers.authorization = `Bearer ${secret}`;
        if (config.auth?.type === 'hmac') headers[SIGNATURE_HEADER] = signatureHeader(secret as string, 'decide', body);
        let res: Response;
        try {
          res = await fetch(config.url, { method: 'POST', headers, body, signal, redirect: 'error' });
        } catch (err) {
          if (signal.aborted) throw new Error(`${where} did not answer in time`);
          throw new Error(`${where} is unreachable (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message})`);
        }
        if (!res.ok) {
          await res.body?.cancel().catch(() => undefined);
          throw new Error(`${where} answered HTTP ${res.status}`);
        }
        const text = await readCapped(res.body, MAX_REPLY_BYTES, () => new Error(`${where} answered with more than ${MAX_REPLY_BYTES / 1024} KiB`));
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new Error(`${where} answered with a body that is not JSON`);
        }
        const parsed = replySchema.safeParse(json);
        if (!parsed.success) {
          throw new Error(`${where} answered without a valid decision (expected {"decision": "APPROVE"|"DENY"|"CONTINUE"|"REVIEW", "reason"?})`);
        }
        return { outcome: parsed.data.decision, reason: parsed.data.reason ?? `decided by ${target.host}`, ...(parsed.data.manager ? { manager: parsed.data.manager } : {}) };
      },
    };
  },
});
