import { json } from '@/lib/http/respond';
import { currentUser } from '@/lib/auth/session';
import { checkReadiness } from '@/lib/readiness';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** Probes and the public get ok / not ok; what is wrong (servers, namespaces) is for approvers. */
export async function GET() {
  const readiness = await checkReadiness();
  const detailed = (await currentUser().catch(() => null))?.approver === true;
  return json(detailed ? readiness : { ready: readiness.ready }, readiness.ready ? 200 : 503);
}
