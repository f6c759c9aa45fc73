import { handle, json } from '@/lib/http/respond';
import { signedInWithUsage } from '@/lib/http/usage-context';
import { parseQuery } from '@/lib/portal/parse';
import { usageOfMany } from '@/lib/portal/usage';
import { usageQuery } from '@/lib/validations/usage';

/** GET /api/requests/usage?ids=a,b,c: the issued keys on the page of "My requests" the browser shows. */
export function GET(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedInWithUsage();
    const { ids } = parseQuery(req.url, usageQuery);
    return json({ usage: await usageOfMany(deps, user, ids) });
  });
}
