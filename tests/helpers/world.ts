import { AuditCollector } from './audit-collector';
import { afterEach } from 'vitest';
import { createPeopleStore } from '@/lib/people';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import { TestGateway } from '@/trial/litellm';
import { TestSmtp } from '@/trial/smtp';
import { adminKubeConfig, freshNamespace, kubeconfigPath } from './cluster';
import { MASTER_KEY, type TestSetup } from './portal';

const cleanups: Array<() => Promise<void> | void> = [];

// Registered when a test file imports this module (its top level), so every test of that file
// runs the cleanups it queued. A hook added from inside a running test would never run.
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** Runs `fn` after the current test, newest first. */
export function afterThisTest(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/**
 * What a loop test on the real cluster starts with: a namespace of its own, the LiteLLM-like
 * test gateway and a real SMTP server on loopback, the setup that points config at them, and a
 * store reading that namespace. All of it stops after the test.
 */
export async function clusterWorld(prefix: string, overrides: Partial<TestSetup> = {}) {
  const namespace = await freshNamespace(prefix);
  const gateway = new TestGateway(MASTER_KEY);
  await gateway.start();
  const smtp = new TestSmtp();
  await smtp.start();
  // Every cluster test's audit trail goes to a real collector over the http sink (not the test's stdout).
  const audit = new AuditCollector();
  await audit.start();
  const setup: TestSetup = { store: { type: 'kubernetes', namespace, kubeconfig: kubeconfigPath() }, gatewayUrl: gateway.url, smtp: smtp.address, auditUrl: audit.url, ...overrides };
  const store = new KubernetesSecretStore({ namespace, kubeConfig: adminKubeConfig() });
  const people = createPeopleStore(store);
  afterThisTest(async () => {
    store.close();
    people.close();
    await gateway.stop();
    await smtp.stop();
    await audit.stop();
  });
  return { namespace, gateway, smtp, setup, store, people, audit };
}
