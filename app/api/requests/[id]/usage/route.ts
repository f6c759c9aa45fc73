import { handle, json } from '@/lib/http/respond';
import { signedInWithUsage } from '@/lib/http/usage-context';
import { usageOf } from '@/lib/portal/usage';

export function GET(_req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedInWithUsage();
    return json({ usage: await usageOf(deps, user, (await ctx.params).id) });
  });
}
