import { signedIn } from '@/lib/http/context';
import { handle, json } from '@/lib/http/respond';
import { listOffboarded } from '@/lib/portal/offboarding';

/** Who is offboarded, and who was let back in: the approvers' list. */
export function GET() {
  return handle(async () => {
    const { deps, user } = await signedIn();
    return json({ people: await listOffboarded(deps, user) });
  });
}
