import { signedIn } from '@/lib/http/context';
import { handle, json } from '@/lib/http/respond';
import { listAwaiting } from '@/lib/portal/awaiting';
import { getRuntime } from '@/lib/runtime';

/** `{ requests, total }`: what waits for your review now (as an approver, a manager or a delegate). */
export function GET() {
  return handle(async () => {
    const { deps, user } = await signedIn();
    return json(await listAwaiting(deps, user, getRuntime().spendFigures));
  });
}
