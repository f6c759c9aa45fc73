import { getConfig } from '@/lib/runtime';
import { buildLoop } from '@/lib/loop/wiring';
import { installShutdown, onShutdown } from '@/lib/shutdown';
import { createStore } from '@/lib/store';

/**
 * `npm run worker` with a clock the test sets: KEYPORTAL_TEST_NOW (RFC 3339) is "now" when the
 * process starts, and time runs on from there. Expiry reminders fall due days ahead; a test moves
 * the clock by starting the next process at a later "now", with no sleeps and no hook in the
 * product itself. Everything else (config, store, failpoints, SIGTERM) is the real worker's.
 */
const start = Date.parse(process.env.KEYPORTAL_TEST_NOW ?? '');
if (Number.isNaN(start)) {
  console.error('clocked-worker: set KEYPORTAL_TEST_NOW to an RFC 3339 time');
  process.exit(2);
}
const offset = start - Date.now();
const config = getConfig();
const store = createStore(config.store);
const { loop } = buildLoop(config, store, process.env, { clock: () => new Date(Date.now() + offset) });
loop.start();
installShutdown('worker');
onShutdown('the approval loop', () => loop.stop());
