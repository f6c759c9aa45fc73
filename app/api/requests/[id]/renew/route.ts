import { signedIn } from '@/lib/http/context';
import { assertSameOrigin } from '@/lib/http/origin';
import { handle, json } from '@/lib/http/respond';
import { renewRequest } from '@/lib/portal/renewal';

// POST, never GET: a renewal creates a request, and the reminder email's link only opens the page.
export function POST(req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    const request = await renewRequest(deps, user, (await ctx.params).id);
    return json({ request }, 201, { location: `/api/requests/${request.id}` });
  });
}
