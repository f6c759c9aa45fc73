import { signedIn } from '@/lib/http/context';
import { handle, json } from '@/lib/http/respond';
import { getRequest } from '@/lib/portal/requests';

export function GET(_req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    return json({ request: await getRequest(deps, user, (await ctx.params).id) });
  });
}
