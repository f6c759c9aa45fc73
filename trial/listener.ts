import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A server the tests can take off the network and bring back on the same port: stop() refuses
 * connections (and cuts kept-alive ones) until start() again, as a service that went down would.
 */
export class Listener {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    public port: number,
    readonly host: string,
  ) {}

  async start(server: Server): Promise<void> {
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
