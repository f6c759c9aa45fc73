import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { type Browser, chromium } from '@playwright/test';
import { checkoutsToCompare } from './checkouts';
import { clusterUp, freshNamespace } from './cluster';
import { startStandIns } from './stand-ins';
import { type Portal, startPortal, stopPortal } from './portal/server';

export interface BrowserRound {
  /** The checkout's name as printed (bench/checkouts.ts). */
  name: string;
  round: number;
  portal: Portal;
  browser: Browser;
}

/**
 * The browser benches' setting: the test cluster, Chromium, the gateway and SMTP doubles; then
 * each checkout to compare (the base that `baseVar` names first, then this one) started in a fresh
 * namespace with the loop in the web server, twice, alternating, and `measure` run on each.
 */
export async function browserRounds(baseVar: string, port: number, measure: (r: BrowserRound) => Promise<void>): Promise<void> {
  const { kubeconfig, kc } = clusterUp();
  const work = mkdtempSync(path.join(tmpdir(), 'keyportal-browser-'));
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' });
  const { gateway, smtp, stop: stopStandIns } = await startStandIns();
  try {
    const checkouts = checkoutsToCompare(baseVar);
    for (let round = 1; round <= 2; round++) {
      for (const [name, checkout] of checkouts) {
        const namespace = await freshNamespace(kc, 'browser');
        const portal = await startPortal({ checkout, name: 'browser', port, namespace, kubeconfig, gatewayUrl: gateway.url, smtp: smtp.address, workDir: work, loop: true });
        try {
          await measure({ name, round, portal, browser });
        } finally {
          await stopPortal(portal);
        }
      }
    }
  } finally {
    await browser.close();
    await stopStandIns();
  }
}
