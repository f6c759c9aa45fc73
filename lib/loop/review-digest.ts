import { type KeyRequest, type ReviewDigest, rfc3339, utcDay } from '../domain/key-request';
import { log } from '../log';
import { reviewDigestMessage } from '../mail/digest-template';
import { type Mailer, MailUnavailableError } from '../mail/types';
import { updateLatest } from '../store/retry-on-conflict';
import { eachInState } from '../store/collect';
import type { RequestStore } from '../store/types';
import { reviewDeadline } from '../approval/deadline';

export interface ReviewDigestDeps {
  store: RequestStore;
  mailer: Mailer;
  clock: () => Date;
  remindAfterHours: number;
  escalateAfterHours?: number;
  escalateTo: readonly string[];
  reviewTimeoutDays: number;
  /** Who is told a request waits for review (the review email's recipients). */
  recipientsOf(r: KeyRequest): readonly string[];
  portalUrl: string;
  modelTitle(model: string): string;
}

export interface DigestReport {
  /** Each digest sent: to whom, and how many requests it listed. */
  sent: Array<{ to: string; requests: number; escalation: boolean }>;
}

/** One line of a digest: a request waiting, since when, and until when. */
export interface DigestLine {
  id: string;
  requester: string;
  modelTitle: string;
  waitingSince: string;
  deadline?: string;
}

const HOUR_MS = 3_600_000;

/**
 * Reviews that cannot wait for ever, reminded without a flood: once a day, each approver gets one
 * email listing every request that has waited for them longer than `remindAfterHours`, and past
 * `escalateAfterHours` the same list goes to `escalateTo`. Each request records the day it was in
 * a digest (`keyportal.dev/review-digest`), so a second run that day, on this replica or the next
 * leader, sends nothing again; a crash between the email and that record can send a day's digest
 * twice, never lose it. Runs on the Lease holder, hourly.
 */
export async function sendReviewDigests(d: ReviewDigestDeps, signal: AbortSignal): Promise<DigestReport> {
  const now = d.clock().getTime();
  const today = utcDay(now);
  const lists = new Map<string, { escalation: boolean; lines: DigestLine[]; requests: KeyRequest[] }>();
  const add = (to: string, escalation: boolean, r: KeyRequest, line: DigestLine) => {
    const key = `${escalation ? 'e' : 'r'}:${to.toLowerCase()}`;
    const list = lists.get(key) ?? { escalation, lines: [], requests: [] };
    list.lines.push(line);
    list.requests.push(r);
    lists.set(key, list);
  };
  for await (const r of eachInState(d.store, 'in-review')) {
    if (signal.aborted) break;
    const since = Date.parse(r.reviewSince ?? r.createdAt);
    if (Number.isNaN(since) || r.deletingSince) continue;
    const waited = now - since;
    const deadline = reviewDeadline(r, d.reviewTimeoutDays);
    const line: DigestLine = { id: r.id, requester: r.email, modelTitle: d.modelTitle(r.model), waitingSince: rfc3339(new Date(since)), ...(deadline !== undefined ? { deadline: rfc3339(new Date(deadline)) } : {}) };
    if (waited >= d.remindAfterHours * HOUR_MS && r.reviewDigest?.reminded !== today) for (const to of d.recipientsOf(r)) add(to, false, r, line);
    if (d.escalateAfterHours !== undefined && waited >= d.escalateAfterHours * HOUR_MS && r.reviewDigest?.escalated !== today) for (const to of d.escalateTo) add(to, true, r, line);
  }

  const report: DigestReport = { sent: [] };
  const done = new Map<string, { r: KeyRequest; reminded: boolean; escalated: boolean }>();
  for (const [key, list] of lists) {
    if (signal.aborted) break;
    const to = key.slice(2);
    try {
      await d.mailer.send({ to: [to], ...reviewDigestMessage(list.lines, { escalation: list.escalation, portalUrl: d.portalUrl, remindAfterHours: d.remindAfterHours, now }) });
    } catch (err) {
      if (!(err instanceof MailUnavailableError)) throw err;
      log('warn', 'review digest: an email could not be sent; tried again next hour', { error: err.message });
      continue;
    }
    report.sent.push({ to, requests: list.lines.length, escalation: list.escalation });
    for (const r of list.requests) {
      const seen = done.get(r.id) ?? { r, reminded: false, escalated: false };
      if (list.escalation) seen.escalated = true;
      else seen.reminded = true;
      done.set(r.id, seen);
    }
  }
  // One write per request a day at most, after its digests went out.
  for (const { r, reminded, escalated } of done.values()) {
    await updateLatest(d.store, r, (current) => {
      if (current.state !== 'in-review') return undefined;
      const next: ReviewDigest = { ...current.reviewDigest, ...(reminded ? { reminded: today } : {}), ...(escalated ? { escalated: today } : {}) };
      return next.reminded === current.reviewDigest?.reminded && next.escalated === current.reviewDigest?.escalated ? undefined : { reviewDigest: next };
    });
  }
  return report;
}
