import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';

export interface CountingServer {
  server: Server;
  url: string;
  /** Connections opened to it so far: how a test sees whether a client reused one. */
  connections: () => number;
  /** Closes it and every connection still open (a test's afterEach). */
  close: () => Promise<void>;
}

/** A plain HTTP server on loopback answering with `handle`, counting the connections it was opened. */
export async function countingServer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<CountingServer> {
  let connections = 0;
  const server = createServer(handle);
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    connections: () => connections,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
