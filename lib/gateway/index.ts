import path from 'node:path';
import type { Config } from '../config/load';
import { LiteLLMGateway } from './litellm';
import { LocalGateway } from './local';
import type { Gateway } from './types';

export function createGateway(config: Config): Gateway {
  const g = config.gateway;
  if (g.type === 'litellm') {
    return new LiteLLMGateway({ baseUrl: g.baseUrl, masterKey: config.secrets.GATEWAY_MASTER_KEY ?? '', timeoutMs: g.timeoutMs, ...(config.portal.trial ? { keyPrefix: 'sk-trial-kp-' } : {}) });
  }
  return new LocalGateway(path.resolve(/*turbopackIgnore: true*/ g.dir), config.models.map((m) => m.id));
}

/** The address users point their clients at. */
export function gatewayPublicUrl(config: Config): string {
  const g = config.gateway;
  return g.type === 'litellm' ? (g.publicUrl ?? g.baseUrl) : g.publicUrl;
}
