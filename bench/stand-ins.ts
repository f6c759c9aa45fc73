import { MASTER_KEY } from '@/tests/helpers/portal';
import { TestGateway } from '@/trial/litellm';
import { TestSmtp } from '@/trial/smtp';

/** The gateway and SMTP server a benched portal talks to: the test doubles on loopback, mail kept unparsed. */
export async function startStandIns(): Promise<{ gateway: TestGateway; smtp: TestSmtp; stop: () => Promise<void> }> {
  const gateway = new TestGateway(MASTER_KEY);
  await gateway.start();
  const smtp = new TestSmtp({ parse: false });
  await smtp.start();
  return { gateway, smtp, stop: async () => (await gateway.stop(), await smtp.stop()) };
}
