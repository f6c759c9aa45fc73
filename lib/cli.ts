/**
 * `keyportal <command>`: what an administrator runs by hand, in the image
 * (`kubectl exec deploy/<release> -- node keyportal.mjs <command>`) or from a checkout
 * (`npm run keyportal -- <command>`), with the portal's own configuration and credentials.
 *
 *   sweep [--delete] [--json]                         compare the gateway's keys with the store now
 *   offboard <email> --reason <text> [--by <email>]   record someone as gone and end what they hold
 *   lift <email> --reason <text> [--by <email>]       let someone back in
 *   offboarded [--json]                               list who is offboarded
 *   check [--json] [--wait <seconds>]                 can the portal reach its gateway, mail relay and identity provider?
 */
import { parseArgs } from 'node:util';
import { ConfigError } from './config';
import { emailSchema, normalizeEmail } from './domain/key-request';
import { createGateway } from './gateway';
import { type EventRecorder, KubernetesEventRecorder, LogEventRecorder } from './loop/events';
import { sweepGateway } from './loop/sweep';
import { createPeopleStore } from './people';
import { liftOffboarding, offboard } from './portal/offboarding';
import { getConfig } from './runtime';
import { checkSetup } from './setup-check';
import { createStore } from './store';

const USAGE = `usage: keyportal <command>
  sweep [--delete] [--json]                         compare the gateway's keyportal- keys with the store now
  offboard <email> --reason <text> [--by <email>]   record someone as gone and end every key and request they hold
  lift <email> --reason <text> [--by <email>]       let someone offboarded back in (their ended requests stay ended)
  offboarded [--json]                               list the offboarding records
  check [--json] [--wait <seconds>]                 can the portal reach its gateway, mail relay and identity provider? (helm test runs it)
                                                    --wait: ask again, up to that long, what does not answer at all (0-600, default 0)`;

class UsageError extends Error {}

function waitSeconds(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const seconds = Number(raw);
  if (!/^\d+$/.test(raw) || seconds > 600) throw new UsageError(`--wait: "${raw}" is not a whole number of seconds from 0 to 600`);
  return seconds;
}

function emailArg(positionals: string[]): string {
  const raw = positionals[1];
  if (!raw || positionals.length !== 2) throw new UsageError('expected exactly one email address');
  const parsed = emailSchema.safeParse(normalizeEmail(raw));
  if (!parsed.success) throw new UsageError(`"${raw}" is not an email address`);
  return parsed.data;
}

function required(value: string | undefined, flag: string): string {
  if (!value?.trim()) throw new UsageError(`${flag} is required`);
  if (value.length > 500) throw new UsageError(`${flag}: at most 500 characters`);
  return value.trim();
}

/** Who the record names: the person given with --by, or an administrator at a terminal. */
function actor(by: string | undefined): string {
  if (by === undefined) return 'kubectl';
  const parsed = emailSchema.safeParse(normalizeEmail(by));
  if (!parsed.success) throw new UsageError(`--by: "${by}" is not an email address`);
  return `user:${parsed.data}`;
}

async function main(argv: string[]): Promise<number> {
  // What the command prints is its answer (--json is read by scripts); log lines go to stderr.
  process.env.KEYPORTAL_LOG ??= 'stderr';
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { delete: { type: 'boolean' }, json: { type: 'boolean' }, wait: { type: 'string' }, reason: { type: 'string' }, by: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  const config = getConfig();
  if (command === 'check') {
    const results = await checkSetup(config, { settleMs: waitSeconds(values.wait) * 1000 });
    if (values.json) console.log(JSON.stringify(results, null, 2));
    else for (const r of results) console.log(`${r.ok ? 'ok    ' : 'FAILED'} ${r.part}: ${r.detail}`);
    return results.every((r) => r.ok) ? 0 : 1;
  }
  const store = createStore(config.store);
  const people = createPeopleStore(store);
  const now = () => new Date();
  try {
    switch (command) {
      case 'sweep': {
        const events: EventRecorder = store.cluster ? new KubernetesEventRecorder(store.cluster.kubeConfig, store.cluster.namespace) : new LogEventRecorder();
        const report = await sweepGateway({ store, gateway: createGateway(config), events, orphans: values.delete ? 'delete' : 'report' });
        await events.flush?.(5_000);
        if (values.json) console.log(JSON.stringify(report, null, 2));
        else {
          console.log(`${report.keys} keyportal- keys at the gateway, compared in ${report.durationMs} ms`);
          for (const o of report.orphans) console.log(`orphan ${o.alias}: ${o.why}${o.deleted ? ' (deleted)' : ''}`);
          for (const id of report.missing) console.log(`missing: keyreq-${id} is issued, but the gateway has no key keyportal-${id}`);
          for (const alias of report.malformed) console.log(`malformed: ${alias} belongs to a request Secret that does not decode`);
          console.log(`${report.orphans.length} orphan(s)${report.orphans.length && !values.delete ? ' (reported only; --delete deletes them)' : ''}, ${report.missing.length} missing, ${report.inFlight} in flight`);
        }
        return 0;
      }
      case 'offboard': {
        const email = emailArg(positionals);
        const result = await offboard({ store, people }, { email, reason: required(values.reason, '--reason'), decidedBy: actor(values.by), now });
        console.log(values.json ? JSON.stringify(result) : `${email}: ${result.recorded ? 'recorded as offboarded' : 'already offboarded'}; ${result.revoked.length} key(s) revoked, ${result.closed.length} open request(s) denied`);
        return 0;
      }
      case 'lift': {
        const email = emailArg(positionals);
        const result = await liftOffboarding({ store, people }, { email, reason: required(values.reason, '--reason'), liftedBy: actor(values.by), now });
        console.log(values.json ? JSON.stringify(result) : `${email}: ${result.changed ? 'let back in' : 'was not offboarded'}`);
        return 0;
      }
      case 'offboarded': {
        const records = await people.listOffboardings();
        if (values.json) console.log(JSON.stringify(records, null, 2));
        else for (const r of records) console.log(`${r.email}\t${r.at}\t${r.by}\t${r.lifted ? `lifted ${r.lifted.at} by ${r.lifted.by}` : 'offboarded'}\t${r.reason}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } finally {
    if ('close' in store && typeof store.close === 'function') store.close();
    people.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || (err instanceof Error && err.name === 'TypeError' && /Unknown option|argument/.test(err.message))) {
      console.error(`keyportal: ${err.message}\n${USAGE}`);
      process.exit(2);
    }
    console.error(`keyportal: ${err instanceof ConfigError ? err.message : (err as Error).message}`);
    process.exit(1);
  },
);
