import { emailSchema, normalizeEmail, requesterHash } from '../domain/key-request';
import { ANNOTATION, LABEL } from '../store/secret-codec';

/** A shell word in single quotes. */
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export interface KubectlOffboarding {
  email: string;
  /** The label selector of every request of this person. */
  selector: string;
  /** Lines to print: the selector, how to list, and the commands that offboard by label edit. */
  lines: string[];
}

/**
 * The kubectl way into offboarding (`npm run requester-label -- <email>`). The requester label
 * is a hash (label values cannot hold `@`), so an admin cannot type it; this prints it, and the
 * commands, for the same loop path as every revoke: an issued Secret relabelled `revoked` is
 * deleted at the gateway by alias and its requester emailed once.
 *
 * The reason is annotated before the label changes: the loop tells an annotation made since its
 * own last write (the reason's fingerprint in `keyportal.dev/observed`) as the administrator's,
 * so the one email carries it. Label edits record nothing about the person, though: the command
 * line's `offboard` does (and keeps them out afterwards), so it is printed first.
 */
export function kubectlOffboarding(rawEmail: string, options: { namespace?: string; reason?: string } = {}): KubectlOffboarding {
  const email = emailSchema.parse(normalizeEmail(rawEmail));
  if (options.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(options.namespace)) throw new Error(`--namespace: "${options.namespace}" is not a Kubernetes namespace name`);
  const ns = `-n ${options.namespace ?? '<requests-namespace>'}`;
  const reason = `Offboarded: ${options.reason ?? 'left the organisation'}`;
  const selector = `${LABEL.component}=key-request,${LABEL.requester}=${requesterHash(email)}`;
  const issued = q(`${selector},${LABEL.state}=issued`);
  const open = q(`${selector},${LABEL.state} in (pending,in-review,approved)`);
  return {
    email,
    selector,
    lines: [
      `# Requests of ${email}: label ${LABEL.requester}=${requesterHash(email)}`,
      `# Selector: ${selector}`,
      '',
      '# What they hold:',
      `kubectl ${ns} get secrets -l ${q(selector)} -L ${LABEL.state}`,
      '',
      '# The whole offboarding, recorded so they stay out (run in the portal\'s namespace):',
      `#   kubectl -n <release-namespace> exec deploy/<release> -- node keyportal.mjs offboard ${email} --reason ${q(reason.replace(/^Offboarded: /, ''))}`,
      '',
      '# Or by label edits alone (nothing recorded: they could sign in and ask again). Record why',
      '# first (the email carries it), then relabel. The loop deletes each key at the gateway and',
      '# emails the requester once per key.',
      `kubectl ${ns} annotate secrets -l ${issued} --overwrite ${q(`${ANNOTATION.reason}=${reason}`)}`,
      `kubectl ${ns} label secrets -l ${issued} --overwrite ${LABEL.state}=revoked`,
      '',
      '# Optional: close their open requests too (denied, never minted). The loop records',
      '# "Denied by an administrator"; the portal or the offboarding webhook does both in one step.',
      `kubectl ${ns} label secrets -l ${open} --overwrite ${LABEL.state}=denied`,
    ],
  };
}
