import type { z } from 'zod';
import { describeIssues } from '../validations/issues';
import { badInput, badRequest, type PortalError } from './errors';

/** A 422 naming the first bad field; `root` names the input when the problem is the whole of it. */
export function invalid(error: z.ZodError, root = '(body)'): PortalError {
  const first = describeIssues(error, { root })[0];
  return badInput(first?.path ?? root, first?.message ?? 'invalid');
}

/** Parses a JSON text with its schema: 400 when it is not JSON, 422 naming the first bad field. */
export function parseJson<T extends z.ZodType>(text: string, schema: T): z.infer<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw badRequest('the body is not valid JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw invalid(parsed.error);
  return parsed.data;
}

/** Parses a URL's query string with its schema: 422 naming the first bad parameter. */
export function parseQuery<T extends z.ZodType>(url: string, schema: T): z.infer<T> {
  const parsed = schema.safeParse(Object.fromEntries(new URL(url).searchParams));
  if (!parsed.success) throw invalid(parsed.error, 'query');
  return parsed.data;
}
