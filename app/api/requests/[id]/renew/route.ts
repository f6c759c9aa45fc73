import { signedIn } from '@/lib/http/context';
import { readOptionalJson } from '@/lib/http/body';
import { assertSameOrigin } from '@/lib/http/origin';
import { handle, json } from '@/lib/http/respond';
import { renewRequest } from '@/lib/portal/renewal';
import { renewBody } from '@/lib/validations/requests';

// POST, never GET: a renewal creates a request, and the reminder email's link only opens the page.
// The body may choose the new key's budget (`max_budget`, within the tier); without one, the model's.
export function POST(req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    const body = await readOptionalJson(req, renewBody);
    const request = await renewRequest(deps, user, (await ctx.params).id, body.max_budget !== undefined ? { maxBudget: body.max_budget } : {});
    return json({ request }, 201, { location: `/api/requests/${request.id}` });
  });
}
