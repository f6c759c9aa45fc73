import { signedIn } from '@/lib/http/context';
import { handle, json } from '@/lib/http/respond';
import { badInput } from '@/lib/portal/errors';
import { listQueue } from '@/lib/portal/requests';
import { queueQuery } from '@/lib/validations/requests';

export function GET(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    const parsed = queueQuery.safeParse(Object.fromEntries(new URL(req.url).searchParams));
    if (!parsed.success) throw badInput(parsed.error.issues[0]?.path.join('.') || 'query', parsed.error.issues[0]?.message ?? 'invalid');
    return json({ requests: await listQueue(deps, user, parsed.data) });
  });
}
