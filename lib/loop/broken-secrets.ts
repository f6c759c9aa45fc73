import type { MalformedSecretError } from '../store/errors';

/**
 * The broken request Secrets the loop has reported, by name, with the version reported: each is
 * named once (a log line, a Warning Event), then left alone until it changes. The watch and every
 * resync bring the same ones again, so the loop asks here first.
 */
export class BrokenSecrets {
  private readonly reported = new Map<string, string>();

  /** True when this version of the Secret is news, and remembers it. */
  firstSight(error: MalformedSecretError): boolean {
    const version = error.resourceVersion ?? error.message;
    if (this.reported.get(error.secretName) === version) return false;
    this.reported.set(error.secretName, version);
    return true;
  }

  /**
   * After a whole pass over the store: a Secret deleted or repaired since it was reported is
   * forgotten, or the names of every broken Secret ever seen would stay for the process's life.
   */
  keepOnly(stillBroken: ReadonlySet<string>): void {
    for (const name of this.reported.keys()) if (!stillBroken.has(name)) this.reported.delete(name);
  }

  get size(): number {
    return this.reported.size;
  }
}
