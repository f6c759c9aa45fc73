import { subscribe } from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';
import { isShuttingDown } from '../shutdown';

let installed = false;

/**
 * While the server drains after SIGTERM (lib/shutdown.ts), every answer closes its connection,
 * so clients and proxies that keep connections alive open their next one to a pod that is
 * staying rather than reuse one that is cut when this process exits. Next gives no hook on its
 * HTTP server and drops a `Connection` header set in proxy.ts, so this listens on Node's own
 * diagnostics channel, which every http.Server publishes each request on before handling it.
 */
export function closeConnectionsWhileStopping(): void {
  if (installed) return;
  installed = true;
  subscribe('http.server.request.start', (message) => {
    if (!isShuttingDown()) return;
    const { response } = message as { response?: ServerResponse };
    if (!response || response.headersSent) return;
    response.shouldKeepAlive = false;
    response.setHeader('connection', 'close');
  });
}
