import { emailSchema, normalizeEmail } from '../domain/key-request';
import type { TraceEntry } from '../domain/trace';
import { type ApprovalPlugin, type Outcome, type PluginRequest, outcomeSchema } from './types';

export type { TraceEntry } from '../domain/trace';

export interface ChainResult {
  outcome: Exclude<Outcome, 'continue'>;
  reason: string;
  /** `plugin:<name>`, or `default` when every plugin said continue. */
  decidedBy: string;
  trace: TraceEntry[];
  /** The requester's manager, as the first plugin that named one said (whatever it answered). */
  manager?: string;
}

/** Runs one plugin with its timeout; a throw or timeout becomes its `onError` answer. */
async function ask(plugin: ApprovalPlugin, request: PluginRequest, parent: AbortSignal): Promise<TraceEntry & { manager?: string }> {
  const started = performance.now();
  const controller = new AbortController();
  const abort = () => controller.abort();
  parent.addEventListener('abort', abort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    // The race makes the timeout hold even for a plugin that ignores its signal.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`no answer within ${plugin.timeoutMs} ms`));
      }, plugin.timeoutMs);
    });
    const decision = await Promise.race([plugin.decide(request, controller.signal), timeout]);
    const outcome = outcomeSchema.parse(decision.outcome);
    const manager = emailSchema.safeParse(decision.manager);
    return { plugin: plugin.name, outcome, reason: String(decision.reason).slice(0, 500), ms: Math.round(performance.now() - started), ...(manager.success ? { manager: normalizeEmail(manager.data) } : {}) };
  } catch (err) {
    if (parent.aborted) throw err;
    const why = err instanceof Error ? err.message : String(err);
    return {
      plugin: plugin.name,
      outcome: plugin.onError,
      reason: `${plugin.name} failed: ${why}; onError answers ${plugin.onError}`.slice(0, 500),
      ms: Math.round(performance.now() - started),
      failed: true,
    };
  } finally {
    clearTimeout(timer);
    parent.removeEventListener('abort', abort);
  }
}

/**
 * The chain of responsibility: plugins in config order, the first answer that is not
 * `continue` decides. If all continue (or there are none), `fallback` decides.
 */
export async function runChain(
  plugins: readonly ApprovalPlugin[],
  request: PluginRequest,
  options: { fallback: 'deny' | 'review'; signal: AbortSignal },
): Promise<ChainResult> {
  const trace: TraceEntry[] = [];
  let manager: string | undefined;
  for (const plugin of plugins) {
    const { manager: named, ...entry } = await ask(plugin, request, options.signal);
    trace.push(entry);
    manager ??= named;
    if (entry.outcome !== 'continue') {
      return { outcome: entry.outcome, reason: entry.reason, decidedBy: `plugin:${plugin.name}`, trace, ...(manager ? { manager } : {}) };
    }
  }
  const reason =
    plugins.length === 0
      ? `no approval plugins are configured; the default is ${options.fallback}`
      : `no plugin decided; the default is ${options.fallback}`;
  return { outcome: options.fallback, reason, decidedBy: 'default', trace, ...(manager ? { manager } : {}) };
}
