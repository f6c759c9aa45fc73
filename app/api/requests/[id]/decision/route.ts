import { readJson } from '@/lib/http/body';
import { signedIn } from '@/lib/http/context';
import { assertSameOrigin } from '@/lib/http/origin';
import { handle, json } from '@/lib/http/respond';
import { decide } from '@/lib/portal/requests';
import { decisionBody } from '@/lib/validations/requests';

export function POST(req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    const body = await readJson(req, decisionBody);
    return json({ request: await decide(deps, user, (await ctx.params).id, body.decision, body.reason, body.changes) });
  });
}
