import { readJson } from '@/lib/http/body';
import { signedIn } from '@/lib/http/context';
import { assertSameOrigin } from '@/lib/http/origin';
import { handle, json } from '@/lib/http/respond';
import { revoke } from '@/lib/portal/requests';
import { revokeBody } from '@/lib/validations/requests';

export function POST(req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    const body = await readJson(req, revokeBody);
    return json({ request: await revoke(deps, user, (await ctx.params).id, body.reason) });
  });
}
