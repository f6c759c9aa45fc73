import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { type KeyRequest, secretName } from '../domain/key-request';
import { rawCall } from '../kube/raw';
import { log } from '../log';
import { countEventsDropped } from '../metrics/record';
import { EventQueue } from './event-queue';

export interface LoopEvent {
  type: 'Normal' | 'Warning';
  /** CamelCase, as Kubernetes reasons are: Approved, KeyMinted, EmailSent, GatewayRefused. */
  reason: string;
  message: string;
}

/**
 * What one pass of the loop did to a request, as one Event: approved, minted and emailed in one
 * pass is one Event saying all three, not three (each is a write the API server stores and an
 * object etcd keeps for an hour; the audit trail, lib/audit/, holds every step for good). Its
 * reason is the pass's first Warning, else its last change of state (an email is not one), so
 * `kubectl events --types=Warning` and a reason filter still find what went wrong.
 */
export function mergeEvents(events: readonly LoopEvent[]): LoopEvent | undefined {
  if (events.length <= 1) return events[0];
  const warning = events.find((e) => e.type === 'Warning');
  const transitions = events.filter((e) => !NOTICE_REASONS.has(e.reason));
  const lead = warning ?? transitions.at(-1) ?? (events.at(-1) as LoopEvent);
  return { type: warning ? 'Warning' : 'Normal', reason: lead.reason, message: events.map((e) => e.message).join('; ').slice(0, 1000) };
}

/** Reasons that tell of a message sent, not of a change to the request. */
const NOTICE_REASONS = new Set(['EmailSent', 'ChatSkipped']);

/** Tells humans what the loop did to a request. Recording never fails a step. */
export interface EventRecorder {
  record(request: Pick<KeyRequest, 'id' | 'uid'>, event: LoopEvent): Promise<void>;
  /** On a Secret that is not (or no longer) a valid request, named as it is. */
  recordOnSecret(secret: { name: string; uid?: string }, event: LoopEvent): Promise<void>;
  /** Resolves once every Event recorded so far has been written (or given up on, after `withinMs`). */
  flush?(withinMs?: number): Promise<void>;
}

/**
 * Kubernetes Events on the request's Secret, so `kubectl events --for secret/keyreq-…` tells the story.
 *
 * Writes go out as plain JSON (lib/kube/raw.ts) from a queue of their own (lib/loop/event-queue.ts):
 * the reconciler does not wait for them, and under a burst they follow the writes users wait for
 * instead of taking the API server's capacity from them. Each Event keeps the time it was recorded.
 */
export class KubernetesEventRecorder implements EventRecorder {
  private droppedSinceLog = 0;
  private loggedDropAt = Number.NEGATIVE_INFINITY;
  private readonly queue: EventQueue<{ secret: { name: string; uid?: string }; event: LoopEvent; at: Date }>;

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
    private readonly component = 'keyportal',
    queue: { capacity: number; writers: number } = { capacity: 10_000, writers: 2 },
  ) {
    this.queue = new EventQueue((e) => this.write(e.secret, e.event, e.at), {
      ...queue,
      onDrop: (count) => {
        countEventsDropped(count);
        // One line a minute at most: a queue that overflows would otherwise log once per Event.
        this.droppedSinceLog += count;
        if (Date.now() - this.loggedDropAt < 60_000) return;
        log('warn', 'Kubernetes Events dropped: the queue was full or the loop stopped first', { count: this.droppedSinceLog });
        this.loggedDropAt = Date.now();
        this.droppedSinceLog = 0;
      },
    });
  }

  record(request: Pick<KeyRequest, 'id' | 'uid'>, event: LoopEvent): Promise<void> {
    return this.recordOnSecret({ name: secretName(request.id), uid: request.uid }, event);
  }

  recordOnSecret(secret: { name: string; uid?: string }, event: LoopEvent): Promise<void> {
    return this.queue.push({ secret, event, at: new Date() });
  }

  /** Events still waiting when the loop stops get `withinMs`; a rolling update does not wait longer. */
  flush(withinMs = 5_000): Promise<void> {
    return this.queue.flush(withinMs);
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
