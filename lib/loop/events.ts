import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { type KeyRequest, secretName } from '../domain/key-request';
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
}

/** Kubernetes Events on the request's Secret, so `kubectl describe secret keyreq-…` tells the story. */
export class KubernetesEventRecorder implements EventRecorder {
  private readonly api: CoreV1Api;

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
    private readonly component = 'keyportal',
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  record(request: Pick<KeyRequest, 'id' | 'uid'>, event: LoopEvent): Promise<void> {
    return this.recordOnSecret({ name: secretName(request.id), uid: request.uid }, event);
  }

  async recordOnSecret({ name, uid }: { name: string; uid?: string }, event: LoopEvent): Promise<void> {
    const now = new Date();
    try {
      await this.api.createNamespacedEvent({
        namespace: this.namespace,
        body: {
          metadata: { name: `${name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`, namespace: this.namespace },
          involvedObject: { apiVersion: 'v1', kind: 'Secret', name, namespace: this.namespace, uid },
          type: event.type,
          reason: event.reason,
          message: event.message.slice(0, 1000),
          source: { component: this.component },
          firstTimestamp: now,
          lastTimestamp: now,
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
