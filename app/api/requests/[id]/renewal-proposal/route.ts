import { signedIn } from '@/lib/http/context';
import { handle, json } from '@/lib/http/respond';
import { renewalProposal } from '@/lib/portal/renewal-proposal';
import { getRuntime } from '@/lib/runtime';

/** `{ proposal }`: the budget a renewal of this key should have, from its use, and why. */
export function GET(_req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    return json({ proposal: await renewalProposal({ ...deps, gateway: getRuntime().gateway }, user, (await ctx.params).id) });
  });
}
