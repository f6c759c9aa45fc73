import { json } from '@/lib/http/respond';
import { catalog } from '@/lib/portal/catalog';
import { getRuntime } from '@/lib/runtime';

export function GET() {
  return json({ models: catalog(getRuntime().config) });
}
