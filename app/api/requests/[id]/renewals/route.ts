import { signedIn } from '@/lib/http/context';
import { handle, json } from '@/lib/http/respond';
import { renewalChain } from '@/lib/portal/renewal';

/** `{ renews: [...], renewedBy: [...] }`: the renewal chain around a request, for its status page. */
export function GET(_req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    return json(await renewalChain(deps, user, (await ctx.params).id));
  });
}
