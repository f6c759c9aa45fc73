import { json } from '@/lib/http/respond';

export const dynamic = 'force-dynamic';

/** Liveness: the process answers. Dependencies are /api/readyz's business. */
export function GET() {
  return json({ status: 'ok' });
}
