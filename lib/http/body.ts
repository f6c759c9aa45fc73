import type { z } from 'zod';
import { readCapped } from '../io/read-capped';
import { PortalError, badRequest } from '../portal/errors';
import { parseJson } from '../portal/parse';

/** Every JSON body is small; anything near this is a mistake or an attack. */
export const MAX_BODY_BYTES = 16 * 1024;

const tooLarge = (limit: number) => new PortalError(413, 'too_large', `the body is larger than ${limit} bytes`);

/**
 * Reads the raw body, refusing more than `limit` bytes before buffering it: a 10 MB upload costs
 * us 16 KB, not 10 MB.
 */
export async function readBody(req: Request, limit = MAX_BODY_BYTES): Promise<string> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  return readCapped(req.body, limit, () => tooLarge(limit));
}

/** Parses a JSON body with its zod schema; the error names the first bad field. */
export async function readJson<T extends z.ZodType>(req: Request, schema: T): Promise<z.infer<T>> {
  const type = req.headers.get('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) throw new PortalError(415, 'unsupported_media_type', 'send the body as application/json');
  const text = await readBody(req);
  if (!text.trim()) throw badRequest('the body is empty; send a JSON object');
  return parseJson(text, schema);
}

/** A JSON body that may be left out (no body, or an empty one, reads as `{}`); one that is sent is parsed as readJson does. */
export async function readOptionalJson<T extends z.ZodType>(req: Request, schema: T): Promise<z.infer<T>> {
  const text = await readBody(req);
  if (!text.trim()) return parseJson('{}', schema);
  const type = req.headers.get('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) throw new PortalError(415, 'unsupported_media_type', 'send the body as application/json');
  return parseJson(text, schema);
}
