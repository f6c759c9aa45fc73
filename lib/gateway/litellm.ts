import { z } from 'zod';
import { rfc3339 } from '../domain/key-request';
import { randomKey } from './key-value';
import { type Gateway, type MintInput, GatewayRefusedError, GatewayUnavailableError, KeyAlreadyExistsError } from './types';

/** LiteLLM's error body: `{"error": {"message", "type", "param", "code"}}`; FastAPI's 422: `{"detail": [...]}`. */
const errorBodySchema = z.union([
  z.object({ error: z.object({ message: z.unknown(), type: z.string().nullish(), param: z.string().nullish() }) }),
  z.object({ detail: z.unknown() }),
]);
const generateResponseSchema = z.object({ key: z.string(), expires: z.string().nullish() });
const modelsResponseSchema = z.object({ data: z.array(z.object({ id: z.string() })) });

export interface LiteLLMOptions {
  baseUrl: string;
  masterKey: string;
  timeoutMs: number;
}

/**
 * Client of LiteLLM's admin API (litellm/proxy/management_endpoints/key_management_endpoints.py):
 * POST /key/generate, GET /key/info, POST /key/delete, GET /v1/models. The master key travels
 * only in the Authorization header; no message built here ever holds it or a minted key.
 */
export class LiteLLMGateway implements Gateway {
  readonly kind = 'litellm' as const;
  private readonly base: string;

  constructor(private readonly options: LiteLLMOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
  }

  newKey(): string {
    // LiteLLM requires custom keys to start with "sk-".
    return randomKey('sk-kp-');
  }

  async generateKey(input: MintInput, signal?: AbortSignal): Promise<{ expiresAt?: string }> {
    const body = {
      key: input.key,
      key_alias: input.alias,
      models: [input.model],
      user_id: input.userId,
      metadata: { request_id: input.requestId, created_by: 'keyportal' },
      ...input.limits,
    };
    const res = await this.call('POST', '/key/generate', body, signal, [input.key]);
    if (res.status === 400 && res.error.param === 'key_alias' && /already exists/i.test(res.error.message)) {
      // LiteLLM upserts a repeated `key` silently but refuses a repeated alias. Our alias is
      // per request, so it is taken by our own key, minted by an earlier attempt or a rival.
      throw new KeyAlreadyExistsError();
    }
    this.expectOk(res, 'create the key');
    const parsed = generateResponseSchema.safeParse(res.json);
    if (!parsed.success) throw new GatewayUnavailableError('the gateway answered /key/generate without a key; will check again');
    const expires = parsed.data.expires ? new Date(parsed.data.expires) : undefined;
    return expires && !Number.isNaN(expires.getTime()) ? { expiresAt: rfc3339(expires) } : {};
  }

  async keyExists(key: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.call('GET', `/key/info?key=${encodeURIComponent(key)}`, undefined, signal, [key]);
    if (res.status === 404) return false;
    this.expectOk(res, 'look the key up');
    return true;
  }

  async deleteKey(key: string, signal?: AbortSignal): Promise<void> {
    const res = await this.call('POST', '/key/delete', { keys: [key] }, signal, [key]);
    if (res.status === 404) return; // "No keys found": already gone
    this.expectOk(res, 'delete the key');
  }

  async listModels(signal?: AbortSignal): Promise<string[]> {
    const res = await this.call('GET', '/v1/models', undefined, signal, []);
    this.expectOk(res, 'list models');
    const parsed = modelsResponseSchema.safeParse(res.json);
    if (!parsed.success) throw new GatewayUnavailableError('the gateway answered /v1/models with an unexpected body');
    return parsed.data.data.map((m) => m.id);
  }

  private expectOk(res: CallResult, what: string): void {
    if (res.status >= 200 && res.status < 300) return;
    const detail = res.error.message ? `: ${res.error.message}` : '';
    if (res.status === 401 || res.status === 403) {
      throw new GatewayUnavailableError(`the gateway refused the master key (HTTP ${res.status}) when asked to ${what}; check GATEWAY_MASTER_KEY`);
    }
    if (res.status === 429 || res.status >= 500) throw new GatewayUnavailableError(`the gateway answered HTTP ${res.status} when asked to ${what}${detail}`);
    throw new GatewayRefusedError(res.status, `HTTP ${res.status} when asked to ${what}${detail}`);
  }

  /** One request. Network failures and timeouts throw GatewayUnavailableError; `redact` values never reach a message. */
  private async call(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal | undefined, redact: string[]): Promise<CallResult> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const endpoint = path.split('?')[0];
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.options.masterKey}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: combined,
        redirect: 'error',
      });
    } catch (err) {
      const why = timeout.aborted ? `no answer within ${this.options.timeoutMs} ms` : causeOf(err);
      throw new GatewayUnavailableError(`gateway ${this.base} unreachable (${method} ${endpoint}): ${why}`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new GatewayUnavailableError(`gateway ${this.base} broke off its answer (${method} ${endpoint}): ${causeOf(err)}`);
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    const error = { message: '', param: undefined as string | undefined };
    const parsed = errorBodySchema.safeParse(json);
    if (!res.ok && parsed.success) {
      if ('error' in parsed.data) {
        error.message = String(typeof parsed.data.error.message === 'string' ? parsed.data.error.message : JSON.stringify(parsed.data.error.message));
        error.param = parsed.data.error.param ?? undefined;
      } else {
        error.message = JSON.stringify(parsed.data.detail);
      }
    }
    const secrets = [this.options.masterKey, ...redact].filter(Boolean);
    for (const s of secrets) error.message = error.message.split(s).join('[redacted]');
    error.message = error.message.slice(0, 300);
    return { status: res.status, json, error };
  }
}

interface CallResult {
  status: number;
  json: unknown;
  error: { message: string; param?: string };
}

function causeOf(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
