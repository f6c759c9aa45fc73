import { readJson } from '@/lib/http/body';
import { signedIn } from '@/lib/http/context';
import { assertSameOrigin } from '@/lib/http/origin';
import { handle, json } from '@/lib/http/respond';
import { bulkApprove } from '@/lib/portal/awaiting';
import { bulkDecisionBody } from '@/lib/validations/requests';

/** `{ ids, decision: "approve", reason?, preview? }` → `{ results: [{ id, ok, says, state? }] }`: preview changes nothing. */
export function POST(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    const body = await readJson(req, bulkDecisionBody);
    return json({ results: await bulkApprove(deps, user, { ids: body.ids, preview: body.preview, ...(body.reason ? { reason: body.reason } : {}) }) });
  });
}
