/**
 * `instanceof` by name for the errors that cross from the store to its callers. Next.js bundles
 * instrumentation, route handlers and pages separately, each with its own copy of these classes,
 * while the process shares one store (lib/runtime.ts): an error the store's copy throws must still
 * be recognised by the handler's copy.
 */
export function byName(value: unknown, name: string): boolean {
  return value instanceof Error && value.name === name;
}
