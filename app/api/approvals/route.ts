import { signedIn } from '@/lib/http/context';
import { handle, json } from '@/lib/http/respond';
import { listQueue } from '@/lib/portal/requests';
import { invalid } from '@/lib/validations/parse';
import { queueQuery } from '@/lib/validations/requests';

export function GET(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    const parsed = queueQuery.safeParse(Object.fromEntries(new URL(req.url).searchParams));
    if (!parsed.success) throw invalid(parsed.error, 'query');
    return json({ requests: await listQueue(deps, user, parsed.data) });
  });
}
