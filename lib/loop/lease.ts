import { ApiException, CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import { log } from '../log';

export interface LeaseOptions {
  namespace: string;
  name?: string;
  identity: string;
  leaseSeconds?: number;
  renewSeconds?: number;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: take
 * the Lease when it is free or its holder stopped renewing for leaseSeconds, renew it every
 * renewSeconds, hand it back on shutdown. Every write carries the read resourceVersion, so two
 * candidates can never both win. The loop's correctness still rests on the request Secrets'
 * resourceVersions; the Lease only keeps replicas from doing the same work twice.
 */
export class LeaseElector {
  private readonly api: CoordinationV1Api;
  private readonly name: string;
  private readonly leaseSeconds: number;
  private readonly renewSeconds: number;
  private leader = false;
  private lastRenew = 0;

  constructor(
    kc: KubeConfig,
    private readonly options: LeaseOptions,
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.name = options.name ?? 'keyportal-loop';
    this.leaseSeconds = options.leaseSeconds ?? 15;
    this.renewSeconds = options.renewSeconds ?? 5;
  }

  /**
   * Campaigns until `signal` aborts: calls onStart on winning and onStop on losing the Lease.
   * At the end it waits for onStop before releasing the Lease, so the leader's last work is done
   * while it still leads; resolves after releasing it.
   */
  async run(signal: AbortSignal, onStart: () => void, onStop: () => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      const held = await this.tryAcquireOrRenew().catch((err: unknown) => {
        log('warn', 'lease: could not reach the API server', { error: (err as Error).message?.slice(0, 200) });
        return false;
      });
      if (held) this.lastRenew = Date.now();
      // Step down when renewals have failed for most of the lease: another replica may take it
      // once it lapses, and two leaders must not overlap.
      const lapsed = Date.now() - this.lastRenew > this.leaseSeconds * 1000 * 0.66;
      if (held && !this.leader) {
        this.leader = true;
        log('info', 'lease: became leader', { lease: this.name, identity: this.options.identity });
        onStart();
      } else if (!held && this.leader && lapsed) {
        this.leader = false;
        log('warn', 'lease: lost leadership', { lease: this.name });
        void onStop();
      }
      await sleep(this.leader ? this.renewSeconds * 1000 : Math.max(1000, (this.leaseSeconds * 1000) / 5), signal);
    }
    if (this.leader) {
      this.leader = false;
      await onStop();
      await this.release().catch(() => undefined);
    }
  }

  /** One campaign round. True when this identity holds the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, identity } = this.options;
    const now = new V1MicroTime();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name: this.name, namespace });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name: this.name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds: this.leaseSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
          },
        });
        return true;
      } catch (e) {
        if (e instanceof ApiException && e.code === 409) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const duration = (spec.leaseDurationSeconds ?? this.leaseSeconds) * 1000;
    const mine = holder === identity;
    if (!mine && holder && Date.now() - renewed < duration) return false;
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: this.leaseSeconds,
        renewTime: now,
        ...(mine ? {} : { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    try {
      await this.api.replaceNamespacedLease({ name: this.name, namespace, body });
      return true;
    } catch (err) {
      if (err instanceof ApiException && err.code === 409) return false;
      throw err;
    }
  }

  /** Hands the Lease back so the next replica need not wait for it to lapse. */
  async release(): Promise<void> {
    const { namespace, identity } = this.options;
    const lease = await this.api.readNamespacedLease({ name: this.name, namespace });
    if (lease.spec?.holderIdentity !== identity) return;
    await this.api.replaceNamespacedLease({
      name: this.name,
      namespace,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime() } },
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
