import { PortalError } from '@/lib/portal/errors';

/** Runs `fn`, expecting a PortalError; returns it for assertions. */
export async function refused(fn: () => Promise<unknown>): Promise<PortalError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof PortalError) return err;
    throw err;
  }
  throw new Error('expected the call to be refused');
}
