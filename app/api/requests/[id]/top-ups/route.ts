import { readJson } from '@/lib/http/body';
import { assertSameOrigin } from '@/lib/http/origin';
import { handle, json } from '@/lib/http/respond';
import { signedInWithUsage } from '@/lib/http/usage-context';
import { requestTopUp, topUpsOf } from '@/lib/portal/top-up';
import { topUpBody } from '@/lib/validations/top-up';

/** The key's top-ups, newest first. */
export function GET(_req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedInWithUsage();
    return json({ topUps: await topUpsOf(deps, user, (await ctx.params).id) });
  });
}

/** Asks for more budget on the key: a top-up request of its own, decided like any request. */
export function POST(req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedInWithUsage();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    const body = await readJson(req, topUpBody);
    const request = await requestTopUp(deps, user, (await ctx.params).id, body);
    return json({ request }, 201, { location: `/api/requests/${request.id}` });
  });
}
