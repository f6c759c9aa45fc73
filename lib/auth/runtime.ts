import type { NextAuthOptions } from 'next-auth';
import { getRuntime } from '../runtime';
import { type AuthHooks, type SessionRules, buildAuthOptions, sessionRules } from './options';
import { revokeForMissingGroup } from './required-group';
import { type AuthSettings, resolveAuth } from './settings';

interface Auth {
  settings: AuthSettings;
  options: NextAuthOptions;
  /** What next-auth's callbacks apply to every use of a session, for the portal's own read of one (session.ts). */
  rules: SessionRules;
}

let built: Auth | undefined;

/** Auth settings and next-auth options, built once from the process's config. */
export function getAuth(): Auth {
  if (!built) {
    const { config } = getRuntime();
    const settings = resolveAuth(config);
    // next-auth v4 builds its callback URLs from NEXTAUTH_URL; the config's public URL is the truth.
    process.env.NEXTAUTH_URL ??= config.portal.publicUrl;
    const { store, people } = getRuntime();
    const hooks: AuthHooks = {
      missingRequiredGroup: (email, group) => revokeForMissingGroup({ store, people }, email, group),
      offboarding: async (email) => {
        const record = await people.offboardingOf(email);
        return record ? { standing: !record.lifted, at: Date.parse(record.at) } : undefined;
      },
    };
    // One set of rules for next-auth's callbacks and the portal's own session read.
    const rules = sessionRules(config, settings, hooks);
    built = { settings, options: buildAuthOptions(config, settings, hooks, rules), rules };
  }
  return built;
}
