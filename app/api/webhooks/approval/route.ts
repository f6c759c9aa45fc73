import { readBody } from '@/lib/http/body';
import { webhookDeps } from '@/lib/http/context';
import { handle, json } from '@/lib/http/respond';
import { SIGNATURE_HEADER } from '@/lib/crypto/signature';
import { handleApprovalWebhook } from '@/lib/portal/webhook';

// Server to server: authenticated by its HMAC signature, so no session and no Origin check.
export function POST(req: Request) {
  return handle(async () => {
    const raw = await readBody(req);
    return json(await handleApprovalWebhook(webhookDeps('approval'), raw, req.headers.get(SIGNATURE_HEADER)));
  });
}
