import type { ReconcilerSettings } from '@/lib/loop/reconciler';
import { TEST_MODELS } from './portal';

/** What the reconciler's unit tests run with: the test catalog, email delivery, short waits. */
export const RECONCILER_SETTINGS: ReconcilerSettings = {
  approvalsDefault: 'review',
  models: TEST_MODELS.map((m) => ({ description: '', featured: false, limits: {}, ...m })),
  keyDelivery: 'email',
  portalUrl: 'http://portal.test',
  portalTitle: 'Keyportal',
  gatewayUrl: 'https://llm.test',
  reviewNotify: ['approvers@example.com'],
  retry: { initialSeconds: 1, maxSeconds: 8, giveUpAfterSeconds: 3600 },
  notifyClaimSeconds: 30,
  kubectlGraceSeconds: 15,
  revealWindowDays: 7,
};
