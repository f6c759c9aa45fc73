import { readJson } from '@/lib/http/body';
import { signedIn } from '@/lib/http/context';
import { assertSameOrigin } from '@/lib/http/origin';
import { handle, json } from '@/lib/http/respond';
import { delegate, delegationsOf, endDelegation } from '@/lib/portal/delegation';
import { delegationBody } from '@/lib/validations/delegation';

/** `{ mine?, toMe }`: the delegation you made, and those made to you, while they run. */
export function GET() {
  return handle(async () => {
    const { deps, user } = await signedIn();
    return json(await delegationsOf(deps, user));
  });
}

/** Names (or replaces) your delegate until a date. */
export function PUT(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    const body = await readJson(req, delegationBody);
    return json({ delegation: await delegate(deps, user, body) });
  });
}

/** Ends your delegation now. */
export function DELETE(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    return json(await endDelegation(deps, user));
  });
}
