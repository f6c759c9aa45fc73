import { checkPluginEntry } from '@/plugins';
import { type Config, loadConfig } from './config';
import { createChat } from './chat';
import type { SlackChat } from './chat/slack';
import { createGateway } from './gateway';
import { GatewayStatus } from './gateway/status';
import { UsageCache } from './gateway/usage-cache';
import type { Gateway } from './gateway/types';
import { SpendFigureService } from './budget/spend-figures';
import { instrumentGateway } from './metrics/instrument';
import { createPeopleStore } from './people';
import type { PeopleStore } from './people/types';
import { type Archive, createArchive } from './retention/archive';
import { createStore } from './store';
import type { RequestStore } from './store/types';
import { ChangeFeed } from './store/change-feed';

export interface Runtime {
  config: Config;
  store: RequestStore;
  /** The gateway's setup, checked at most every 30 s (readyz, start-up, the approvers' page). */
  gatewayStatus: GatewayStatus;
  /** Keys' spend and limits from the gateway, a minute old at most (status page, My requests). */
  usage: UsageCache;
  /** Who left: checked at sign-in, on every session use, creation, renewal and reveal. */
  people: PeopleStore;
  /** Slack, when chat.slack is configured: answers to clicks (the loop has its own client). */
  slack?: SlackChat;
  /** The portal's own client of the gateway (its calls counted like the loop's): spend reports for renewal proposals. */
  gateway: Gateway;
  /** What requesters spent and what a model's keys cost, for approvers (ten minutes old at most). */
  spendFigures: SpendFigureService;
  /** Tombstones of requests the retention sweep deleted. */
  archive: Archive;
  /** Status pages waiting for their request to change (a long poll), on one subscription to the store. */
  changes: ChangeFeed;
}

/**
 * Next.js compiles instrumentation, route handlers and pages into separate bundles, each with its
 * own copy of this module: a module-level singleton would build one store (one cache of every
 * request, one watch) per bundle. The process-wide one lives on globalThis instead.
 */
const RUNTIME = Symbol.for('keyportal.runtime');
const shared = globalThis as typeof globalThis & { [RUNTIME]?: { config?: Config; runtime?: Runtime } };

function slot(): { config?: Config; runtime?: Runtime } {
  shared[RUNTIME] ??= {};
  return shared[RUNTIME];
}

/**
 * The process's configuration, loaded once, with each plugin checking its own entry. A bad file
 * throws ConfigError, whose message names every problem; start-up prints it and stops.
 */
export function getConfig(): Config {
  const s = slot();
  s.config ??= loadConfig({ checkPlugin: checkPluginEntry });
  return s.config;
}

/** The process-wide config and store, built once on first use. */
export function getRuntime(): Runtime {
  const s = slot();
  if (!s.runtime) {
    const config = getConfig();
    // One client of the gateway for the portal's own reads (setup check, usage), its calls
    // counted like the loop's.
    const gateway = instrumentGateway(createGateway(config));
    const store = createStore(config.store);
    const slack = createChat(config);
    s.runtime = {
      config,
      store,
      people: createPeopleStore(store),
      archive: createArchive(store),
      changes: new ChangeFeed(store),
      gatewayStatus: new GatewayStatus(gateway, config.models.map((m) => m.id)),
      usage: new UsageCache(gateway),
      gateway,
      spendFigures: new SpendFigureService(store, gateway),
      ...(slack ? { slack } : {}),
    };
  }
  return s.runtime;
}
