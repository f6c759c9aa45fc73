import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { buildPlugins } from '@/plugins';
import type { Config } from '../config/load';
import { createGateway, gatewayPublicUrl } from '../gateway';
import type { Gateway } from '../gateway/types';
import { createMailer } from '../mail';
import { createChat } from '../chat';
import type { ChatPoster } from '../chat/types';
import type { Mailer } from '../mail/types';
import { instrumentGateway, instrumentMailer } from '../metrics/instrument';
import { observeLoop } from '../metrics/record';
import type { RequestStore } from '../store/types';
import { createPeopleStore } from '../people';
import type { PeopleStore } from '../people/types';
import { type EventRecorder, KubernetesEventRecorder, LogEventRecorder } from './events';
import { LeaseElector } from './lease';
import { ApprovalLoop } from './loop';
import { Reconciler } from './reconciler';
import { sweepGateway } from './sweep';
import { SpendWatch } from '../budget/spend-watch';
import { IdleWatch } from '../budget/idle-watch';
import { type DigestReport, sendReviewDigests } from './review-digest';
import { type NoticeDeps, recipients, templateContext } from './notices';
import { policyFor } from '../approval/policy';
import { SpendFigureService } from '../budget/spend-figures';
import { AuditShipper } from '../audit/shipper';
import { createAuditSink } from '../audit';
import { createAuditSpool } from '../audit/spool';
import { KubernetesAuditCursor } from '../audit/cursor';
import type { AuditSink } from '../audit/sink';
import { type Archive, createArchive } from '../retention/archive';
import { RETENTION_EVERY_MS, sweepRetention } from '../retention/sweep';
import { observeAudit } from '../metrics/record';

export interface LoopParts {
  loop: ApprovalLoop;
  reconciler: Reconciler;
  gateway: Gateway;
  mailer: Mailer;
  events: EventRecorder;
  /** The spend check the leader runs every lifecycle.topUp.checkMinutes (tests run a round by hand). */
  spendWatch: SpendWatch;
  /** The idle check (hourly), when lifecycle.idleDays is set. */
  idleWatch?: IdleWatch;
  /** The approvers' daily digest (checked hourly; tests run it by hand). */
  reviewDigest(signal: AbortSignal): Promise<DigestReport>;
  /** Ships audit records to the sink (every second on the leader; tests run a round by hand). */
  audit: AuditShipper;
  /** Where deleted requests leave their tombstone. */
  archive: Archive;
}

/** Builds the loop and everything it acts through from the configuration. */
export function buildLoop(
  config: Config,
  store: RequestStore,
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: { watch?: boolean; clock?: () => Date; people?: PeopleStore; chat?: ChatPoster; auditSink?: AuditSink; archive?: Archive } = {},
): LoopParts {
  // Counted and timed at the interface, whichever gateway and mailer the config picks.
  const gateway = instrumentGateway(createGateway(config));
  const mailer = instrumentMailer(createMailer(config));
  const chat = options.chat ?? createChat(config);
  const kube = store.cluster;
  const events: EventRecorder = kube ? new KubernetesEventRecorder(kube.kubeConfig, kube.namespace) : new LogEventRecorder();
  const reconciler = new Reconciler({
    store,
    gateway,
    mailer,
    events,
    plugins: buildPlugins(config.approvals.plugins, env),
    people: options.people ?? createPeopleStore(store),
    ...(chat ? { chat } : {}),
    spend: new SpendFigureService(store, gateway),
    settings: {
      approvalsDefault: config.approvals.default,
      models: config.models,
      keyDelivery: config.mail.keyDelivery,
      portalUrl: config.portal.publicUrl,
      portalTitle: config.portal.title,
      gatewayUrl: gatewayPublicUrl(config),
      reviewNotify: config.approvals.notify,
      retry: config.loop.retry,
      notifyClaimSeconds: config.loop.notifyClaimSeconds,
      kubectlGraceSeconds: config.loop.kubectlGraceSeconds,
      revealWindowDays: config.portal.revealWindowDays,
      reminderDays: config.loop.reminders,
      rateLimit: config.portal.rateLimit,
      approvals: config.approvals,
      ...(config.chat.slack ? { chat: { directMessages: config.chat.slack.directMessages } } : {}),
    },
    // Tests move time forward (expiry reminders days ahead); production runs on the wall clock.
    ...(options.clock ? { clock: options.clock } : {}),
  });
  // The emails' wording (portal, models, policies) as the reconciler has it: the watches and the digest word theirs alike.
  const models = new Map(config.models.map((m) => [m.id, m]));
  const notices: NoticeDeps = {
    store,
    models,
    settings: { portalUrl: config.portal.publicUrl, portalTitle: config.portal.title, gatewayUrl: gatewayPublicUrl(config), keyDelivery: config.mail.keyDelivery, reviewNotify: config.approvals.notify },
    policyOf: (model) => policyFor(config.approvals, models.get(model), model),
  };
  const spendWatch = new SpendWatch({
    store,
    gateway,
    mailer,
    events,
    percent: config.lifecycle.topUp.notifyAtPercent,
    checksPerSecond: config.lifecycle.topUp.checksPerSecond,
    context: (r) => templateContext(notices, r),
  });
  const clock = options.clock ?? (() => new Date());
  const { idleDays, idleGraceDays } = config.lifecycle;
  const idleWatch = idleDays
    ? new IdleWatch({ store, gateway, mailer, events, idleDays, graceDays: idleGraceDays, clock, context: (r) => templateContext(notices, r) })
    : undefined;
  const { remindAfterHours, escalateAfterHours, escalateTo, reviewTimeoutDays } = config.approvals;
  const reviewDigest = (signal: AbortSignal) =>
    sendReviewDigests(
      { store, mailer, clock, remindAfterHours, ...(escalateAfterHours !== undefined ? { escalateAfterHours } : {}), escalateTo, reviewTimeoutDays, recipientsOf: (r) => recipients(notices, r, { state: 'in-review', to: 'approvers' }), portalUrl: config.portal.publicUrl, modelTitle: (m) => models.get(m)?.title ?? m },
      signal,
    );
  const archive = options.archive ?? createArchive(store);
  const sink = options.auditSink ?? createAuditSink(config, config.secrets);
  const spool = createAuditSpool(store);
  const audit = new AuditShipper({
    store,
    sink,
    render: { source: config.portal.publicUrl, redactEmail: config.audit.redactEmail },
    settleMs: config.audit.settleSeconds * 1000,
    batchSize: config.audit.batchSize,
    busy: (r) => reconciler.busy(r),
    ...(spool ? { spool } : {}),
    ...(kube ? { cursor: { store: new KubernetesAuditCursor(kube.kubeConfig, kube.namespace), version: () => kube.cacheVersion(), covered: (through) => kube.coverAudit(through), heard: () => kube.auditCursor() } } : {}),
    deletedBy: async (id) => ((await archive.find(id).catch(() => undefined)) ? `retention (store.retention.endedDays: ${config.store.retention.endedDays})` : undefined),
  });
  // What reached the sink leaves a Secret with the loop's next write of it (lib/audit/cursor.ts).
  kube?.dropShippedRecords((read) => audit.shippedOf(read));
  const { endedDays, maxDeletesPerMinute } = config.store.retention;
  // The pod's name (the chart passes POD_NAME) says which pod leads, as `kubectl get lease` shows;
  // pid and a random suffix keep two processes on one host apart.
  const who = process.env.POD_NAME || hostname();
  const elector =
    kube && config.loop.leaderElection
      ? new LeaseElector(kube.kubeConfig, { namespace: kube.namespace, identity: `${who}-${process.pid}-${randomBytes(3).toString('hex')}` })
      : undefined;
  const loop = new ApprovalLoop(store, (id, signal) => reconciler.reconcile(id, signal), {
    concurrency: config.loop.concurrency,
    resyncMs: config.loop.resyncSeconds * 1000,
    errorBackoff: config.loop.retry,
    elector,
    watch: options.watch ?? true,
    atRest: (r) => reconciler.plan(r).kind === 'done',
    now: () => clock().getTime(),
    onStopped: async () => {
      await events.flush?.();
      mailer.close();
      await sink.close();
      unobserve();
      unobserveAudit();
    },
    periodic: [
      {
        name: 'the spend check',
        everyMs: config.lifecycle.topUp.checkMinutes * 60_000,
        run: (signal) => spendWatch.run(signal),
      },
      { name: 'the review digest', everyMs: 3_600_000, run: reviewDigest },
      ...(idleWatch ? [{ name: 'the idle check', everyMs: 3_600_000, run: (signal: AbortSignal) => idleWatch.run(signal) }] : []),
      { name: 'the audit shipper', everyMs: 1000, firstAfterMs: 1000, run: (signal) => audit.run(signal), atStop: () => audit.persist() },
      ...(endedDays > 0
        ? [{ name: 'the retention sweep', everyMs: RETENTION_EVERY_MS, run: (signal: AbortSignal) => sweepRetention({ store, archive, endedDays, maxDeletesPerMinute, clock, auditOwed: (r) => audit.owes(r) }, signal) }]
        : []),
      {
        name: 'the gateway sweep',
        everyMs: config.loop.gatewaySweepMinutes * 60_000,
        run: (signal) => sweepGateway({ store, gateway, events, orphans: config.loop.orphans }, signal),
      },
    ],
    onMalformed: (error) =>
      void events.recordOnSecret(
        { name: error.secretName, uid: error.uid },
        { type: 'Warning', reason: 'Malformed', message: `not a valid key request, skipped until it changes: ${error.problems}` },
      ),
  });
  const unobserve = observeLoop(loop);
  const unobserveAudit = observeAudit(audit);
  return { loop, reconciler, gateway, mailer, events, spendWatch, reviewDigest, audit, archive, ...(idleWatch ? { idleWatch } : {}) };
}
