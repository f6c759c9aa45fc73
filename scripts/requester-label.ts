/**
 * npm run requester-label -- <email> [--namespace <ns>] [--reason <text>]
 *
 * Prints the requester label of an email (a hash: label values cannot hold `@`) and the kubectl
 * commands that offboard that person by label edit. Prints only; it changes nothing.
 */
import { parseArgs } from 'node:util';
import { kubectlOffboarding } from '../lib/portal/offboarding-kubectl';

const usage = 'usage: npm run requester-label -- <email> [--namespace <requests namespace>] [--reason <text>]';

function main(): number {
  let parsed;
  try {
    parsed = parseArgs({ allowPositionals: true, options: { namespace: { type: 'string', short: 'n' }, reason: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`expected exactly one email address\n${usage}`);
    return 2;
  }
  try {
    const out = kubectlOffboarding(positionals[0] as string, { namespace: values.namespace ?? process.env.KEYPORTAL_NAMESPACE, ...(values.reason ? { reason: values.reason } : {}) });
    console.log(out.lines.join('\n'));
    return 0;
  } catch (err) {
    const message = err instanceof Error && err.name === 'ZodError' ? `"${positionals[0]}" is not an email address` : (err as Error).message;
    console.error(`${message}\n${usage}`);
    return 2;
  }
}

process.exitCode = main();
