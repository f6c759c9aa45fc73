import { signedIn } from '@/lib/http/context';
import { assertSameOrigin } from '@/lib/http/origin';
import { handle, json } from '@/lib/http/respond';
import { reveal } from '@/lib/portal/requests';

// POST, not GET: showing the key changes the request (it can be shown only once).
export function POST(req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    return json(await reveal(deps, user, (await ctx.params).id));
  });
}
