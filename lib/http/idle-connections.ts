import { subscribe } from 'node:diagnostics_channel';
import type { Server } from 'node:http';

let installed = false;

/**
 * Keeps an idle client connection open for `seconds` (config `portal.keepAliveSeconds`) rather
 * than Node's 5 s. A proxy that pools connections to the portal (ingress-nginx, 60 s; an AWS ALB,
 * 60 s) sends its next request on one it holds without asking first; when the portal has closed
 * it that same moment, the request dies with the socket and the proxy answers 502 for a POST it
 * cannot retry. The side that closes an idle connection must be the proxy.
 *
 * Next offers `next start --keepAliveTimeout` and, in the standalone `server.js` the image runs,
 * a KEEP_ALIVE_TIMEOUT variable: two spellings for two launches, neither checked. This sets it
 * from the validated config whatever started the server, on Node's diagnostics channel (as
 * close-when-stopping.ts does): Node reads `keepAliveTimeout` when an answer ends, so setting it
 * as the first request starts covers every idle period, the first answer's `Keep-Alive` hint alone
 * still saying 5 s.
 */
export function keepIdleConnections(seconds: number): void {
  if (installed) return;
  installed = true;
  const ms = seconds * 1000;
  subscribe('http.server.request.start', (message) => {
    const { server } = message as { server?: Server };
    if (server && server.keepAliveTimeout !== ms) server.keepAliveTimeout = ms;
  });
}
