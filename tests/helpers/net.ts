import { createServer } from 'node:net';

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
