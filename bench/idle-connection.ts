/**
 * Who closes an idle connection to the API server, and when: the portal's kept-alive agent
 * (lib/kube/keep-alive.ts, idle limit IDLE_CONNECTION_MS) side by side with the same agent given
 * no limit, as before. One call each on the test cluster, then the connection left idle.
 *
 *   npx tsx bench/idle-connection.ts      # ~95 s; starts the test cluster if it is not running
 */
import type { Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { connectionOptions } from '@/lib/kube/connection-options';
import { IDLE_CONNECTION_MS, withKeepAlive } from '@/lib/kube/keep-alive';
import { rawCall } from '@/lib/kube/raw';
import { clusterUp } from './cluster';

const WAIT_MS = 100_000;

async function closedBy(kubeconfig: string, idleMs: number): Promise<string> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  withKeepAlive(kc, idleMs);
  await rawCall(kc, { method: 'GET', path: '/api/v1/namespaces/default/secrets', query: { limit: 1 } });
  const agent = (await connectionOptions(kc)).agent as unknown as { freeSockets: Record<string, Socket[]> };
  const sockets = Object.values(agent.freeSockets).flat();
  if (sockets.length !== 1) throw new Error(`expected one idle connection, found ${sockets.length}`);
  const socket = sockets[0] as Socket;
  const idleSince = Date.now();
  return new Promise((resolve) => {
    let serverEnded = false;
    // Held referenced: the agent unrefs an idle socket, and nothing else would keep the process up.
    const gaveUp = setTimeout(() => resolve(`still open after ${WAIT_MS / 1000} s idle`), WAIT_MS);
    // The server's FIN arrives as 'end'; the agent's own idle limit destroys the socket without one.
    socket.on('end', () => (serverEnded = true));
    socket.on('close', () => {
      clearTimeout(gaveUp);
      resolve(`closed by ${serverEnded ? 'kube-apiserver' : 'the portal'} after ${((Date.now() - idleSince) / 1000).toFixed(1)} s idle`);
    });
  });
}

const cluster = clusterUp();
try {
  const [limited, unlimited] = await Promise.all([closedBy(cluster.kubeconfig, IDLE_CONNECTION_MS), closedBy(cluster.kubeconfig, 3_600_000)]);
  console.log(`idle limit ${IDLE_CONNECTION_MS / 1000} s (as shipped): ${limited}`);
  console.log(`no idle limit (before):       ${unlimited}`);
} finally {
  cluster.stop();
}
