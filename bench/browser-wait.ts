/**
 * `npx tsx bench/browser-wait.ts`: what an employee waits for in Chromium, from clicking "Submit
 * request" on a catalog card to the status page showing `issued` (auto-approved, minted and
 * emailed by the loop in the web server), PROBE_N people (20) one after another on a quiet
 * portal; and how many status pages showed `issued` at their first render (the others wait for
 * the page's next read: every 2 s before a861782, a held read answered at the change since). With
 * BROWSER_BASE (a built clone of an earlier commit) that checkout first, then this one, each twice,
 * alternating (bench/browser-rounds.ts).
 */
import { browserRounds } from './browser-rounds';
import { summarize } from './stats';
import { signIn } from '@/tests/e2e/helpers';

const n = Number(process.env.PROBE_N ?? 20);

await browserRounds('BROWSER_BASE', 3398, async ({ name, round, portal, browser }) => {
  const waits: number[] = [];
  let atFirstRender = 0;
  for (let i = -2; i < n; i++) {
    // A person of their own each time (a second live key for one model is refused); two to warm up.
    const context = await browser.newContext({ baseURL: portal.url });
    const page = await context.newPage();
    await signIn(page, `b${i}-${round}-${Date.now().toString(36)}@bench.example.com`);
    const card = page.locator('li', { has: page.getByRole('heading', { name: 'GPT-4o', exact: true }) });
    // A click before the page has hydrated opens nothing: click again (bounded) until the form shows.
    const submit = card.getByRole('button', { name: 'Submit request' });
    for (let tries = 0; tries < 10 && !(await submit.isVisible()); tries++) {
      await card.getByRole('button', { name: /^Request key/ }).click();
      await submit.waitFor({ timeout: 1000 }).catch(() => undefined);
    }
    const t0 = performance.now();
    await submit.click();
    await page.waitForURL(/\/requests\/[a-z2-7]{12}$/);
    const first = await page.locator('[data-state]').first().getAttribute('data-state');
    await page.locator('[data-state="issued"]').first().waitFor({ timeout: 15_000 });
    const ms = performance.now() - t0;
    if (i >= 0) {
      waits.push(ms);
      if (first === 'issued') atFirstRender++;
    }
    await context.close();
  }
  const wait = summarize(waits);
  process.stdout.write(`${name}, round ${round}: click to issued on screen, p50 ${wait.p50.toFixed(0)} ms, p90 ${wait.p90.toFixed(0)} ms; issued at the first render ${atFirstRender} of ${n}, after a poll (over 1 s) ${waits.filter((w) => w > 1000).length} of ${n}\n`);
});
