import type { NextAuthOptions } from 'next-auth';
import { getRuntime } from '../runtime';
import { buildAuthOptions } from './options';
import { revokeForMissingGroup } from './required-group';
import { type AuthSettings, resolveAuth } from './settings';

let built: { settings: AuthSettings; options: NextAuthOptions } | undefined;

/** Auth settings and next-auth options, built once from the process's config. */
export function getAuth(): { settings: AuthSettings; options: NextAuthOptions } {
  if (!built) {
    const { config } = getRuntime();
    const settings = resolveAuth(config);
    // next-auth v4 builds its callback URLs from NEXTAUTH_URL; the config's public URL is the truth.
    process.env.NEXTAUTH_URL ??= config.portal.publicUrl;
    const { store, people } = getRuntime();
    built = {
      settings,
      options: buildAuthOptions(config, settings, {
        missingRequiredGroup: (email, group) => revokeForMissingGroup({ store, people }, email, group),
        offboarding: async (email) => {
          const record = await people.offboardingOf(email);
          return record ? { standing: !record.lifted, at: Date.parse(record.at) } : undefined;
        },
      }),
    };
  }
  return built;
}
