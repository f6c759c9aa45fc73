import type { Gateway } from '../gateway/types';
import type { Mailer } from '../mail/types';
import { type GatewayOperation, type GatewayOutcome, gatewayOutcome } from './labels';
import { type KeyportalMetrics, metrics } from './registry';

/**
 * The gateway with every admin call counted and timed. A decorator rather than code in each
 * client, so the LiteLLM client, the local stand-in and the tests' fakes are measured alike and
 * none of them knows metrics exist. Errors pass through unchanged.
 */
export function instrumentGateway(inner: Gateway, m: KeyportalMetrics = metrics()): Gateway {
  async function timed<T>(operation: GatewayOperation, call: () => Promise<T>, outcomeOf: (value: T) => GatewayOutcome = () => 'ok'): Promise<T> {
    const end = m.gatewayDuration.startTimer({ operation });
    try {
      const value = await call();
      m.gatewayCalls.inc({ operation, outcome: outcomeOf(value) });
      return value;
    } catch (err) {
      m.gatewayCalls.inc({ operation, outcome: gatewayOutcome(err) });
      throw err;
    } finally {
      end();
    }
  }
  return {
    kind: inner.kind,
    newKey: () => inner.newKey(),
    generateKey: (input, signal) => timed('generate', () => inner.generateKey(input, signal)),
    keyInfo: (keySha256, signal) => timed('info', () => inner.keyInfo(keySha256, signal), (info) => (info ? 'ok' : 'not_found')),
    deleteKey: (alias, options) => timed('delete', () => inner.deleteKey(alias, options)),
    listKeys: (prefix, signal) => timed('list', () => inner.listKeys(prefix, signal)),
    listModels: (signal) => timed('models', () => inner.listModels(signal)),
    alive: (signal) => timed('health', () => inner.alive(signal)),
    updateBudget: (keySha256, change, options) => timed('update', () => inner.updateBudget(keySha256, change, options)),
    spendReport: (filter, from, to, signal) => timed('spend', () => inner.spendReport(filter, from, to, signal), (report) => (report ? 'ok' : 'not_found')),
  };
}

/** The mailer with every send counted, ok or not. */
export function instrumentMailer(inner: Mailer, m: KeyportalMetrics = metrics()): Mailer {
  return {
    kind: inner.kind,
    async send(message) {
      try {
        await inner.send(message);
      } catch (err) {
        m.mailSends.inc({ outcome: 'error' });
        throw err;
      }
      m.mailSends.inc({ outcome: 'ok' });
    },
    close: () => inner.close(),
  };
}
