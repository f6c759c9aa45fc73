import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { type KeyRequest, secretName } from '../domain/key-request';
import { rawCall } from '../kube/raw';
import { log } from '../log';

export interface LoopEvent {
  type: 'Normal' | 'Warning';
  /** CamelCase, as Kubernetes reasons are: Approved, KeyMinted, EmailSent, GatewayRefused. */
  reason: string;
  message: string;
}

/** Tells humans what the loop did to a request. Recording never fails a step. */
export interface EventRecorder {
  record(request: Pick<KeyRequest, 'id' | 'uid'>, event: LoopEvent): Promise<void>;
  /** On a Secret that is not (or no longer) a valid request, named as it is. */
  recordOnSecret(secret: { name: string; uid?: string }, event: LoopEvent): Promise<void>;
  /** Resolves once every Event recorded so far has been written (or given up on). */
  flush?(): Promise<void>;
}

/**
 * Kubernetes Events on the request's Secret, so `kubectl describe secret keyreq-…` tells the story.
 *
 * Writes go out as plain JSON (lib/kube/raw.ts). The reconciler does not wait for them (see
 * `tell` there); `flush` waits for the ones still in flight when the loop stops.
 */
export class KubernetesEventRecorder implements EventRecorder {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
    private readonly component = 'keyportal',
  ) {}

  record(request: Pick<KeyRequest, 'id' | 'uid'>, event: LoopEvent): Promise<void> {
    return this.recordOnSecret({ name: secretName(request.id), uid: request.uid }, event);
  }

  recordOnSecret(secret: { name: string; uid?: string }, event: LoopEvent): Promise<void> {
    const write = this.write(secret, event, new Date());
    this.pending.add(write);
    return write.finally(() => this.pending.delete(write));
  }

  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private async write({ name, uid }: { name: string; uid?: string }, event: LoopEvent, now: Date): Promise<void> {
    const time = now.toISOString().replace(/\.\d+Z$/, 'Z');
    try {
      await rawCall(this.kc, {
        method: 'POST',
        path: `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/events`,
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: `${name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`, namespace: this.namespace },
          involvedObject: { apiVersion: 'v1', kind: 'Secret', name, namespace: this.namespace, uid },
          type: event.type,
          reason: event.reason,
          message: event.message.slice(0, 1000),
          source: { component: this.component },
          firstTimestamp: time,
          lastTimestamp: time,
          count: 1,
          reportingComponent: this.component,
        },
      });
    } catch (err) {
      log('warn', 'could not record a Kubernetes Event', { secret: name, reason: event.reason, error: (err as Error).message?.slice(0, 200) });
    }
  }
}

/** With the local store there is no API server: the story goes to the log. */
export class LogEventRecorder implements EventRecorder {
  async record(request: Pick<KeyRequest, 'id'>, event: LoopEvent): Promise<void> {
    log(event.type === 'Warning' ? 'warn' : 'info', event.message, { request: request.id, event: event.reason });
  }

  async recordOnSecret(secret: { name: string }, event: LoopEvent): Promise<void> {
    log(event.type === 'Warning' ? 'warn' : 'info', event.message, { secret: secret.name, event: event.reason });
  }
}
