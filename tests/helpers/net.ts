import { type Server, type Socket, connect, createServer } from 'node:net';

/** A loopback port that nothing listens on (fetch refuses "bad" ports such as 1 outright). */
export function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A loopback port free right now, for a server the test starts (the same kernel pick). */
export const freePort = closedPort;

/**
 * A TCP relay on 127.0.0.1 in front of another loopback server, so a test can cut every
 * connection (a network blip, an API server restart) without touching the server itself. The
 * node suite also uses one as a door between loopback and the test node's pod bridge
 * (`listenHost` the bridge's gateway address).
 */
export class CuttableRelay {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private holding = false;
  port = 0;

  constructor(
    private readonly target: { host: string; port: number },
    private readonly listenHost = '127.0.0.1',
  ) {
    this.server = createServer((client) => {
      if (this.holding) return void client.destroy();
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, this.listenHost, resolve);
    });
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Drops every open connection; new ones are still relayed. Returns how many were cut. */
  cut(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    return n;
  }

  /** Cuts every connection and refuses new ones until release(): the server is "down". */
  hold(): void {
    this.holding = true;
    this.cut();
  }

  release(): void {
    this.holding = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
