import { type GatewaySetup, checkGatewaySetup } from './setup-check';
import type { Gateway } from './types';

/** The gateway's setup check, run at most once per `ttlMs` however many probes and pages ask. */
export class GatewayStatus {
  private last: { at: number; result: Promise<GatewaySetup> } | undefined;

  constructor(
    private readonly gateway: Gateway,
    private readonly catalog: readonly string[],
    private readonly ttlMs = 30_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  current(): Promise<GatewaySetup> {
    if (!this.last || this.now() - this.last.at > this.ttlMs) {
      this.last = { at: this.now(), result: checkGatewaySetup(this.gateway, this.catalog) };
    }
    return this.last.result;
  }
}
