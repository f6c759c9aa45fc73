import { ConflictError } from './errors';

/**
 * Re-reads and tries again while someone else keeps moving first (client-go's
 * RetryOnConflict): `attempt` must read what it changes, so each try decides on the current
 * version. Gives up with the last ConflictError after `times` tries; other errors pass through.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>, times = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof ConflictError) || i >= times) throw err;
    }
  }
}
