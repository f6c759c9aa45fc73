import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type InteractionDeps, handleSlackInteraction } from '@/lib/chat/slack-interactions';

/**
 * The interaction endpoint as app/api/slack/interactions/route.ts serves it, on 127.0.0.1 without
 * Next.js: the answer is written first, the work runs after it (Next's `after`). `idle()` waits
 * for the work of every answered interaction, so a test can look at what it did.
 */
export async function slackEndpoint(deps: InteractionDeps): Promise<{ url: string; idle: () => Promise<void>; close: () => Promise<void> }> {
  const work = new Set<Promise<void>>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => (typeof req.headers[name] === 'string' ? (req.headers[name] as string) : null);
      void handleSlackInteraction(deps, raw, { timestamp: header('x-slack-request-timestamp'), signature: header('x-slack-signature') }).then(
        (answer) => {
          res.writeHead(answer.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(answer.body));
          if (answer.later) {
            const p: Promise<void> = answer.later().finally(() => work.delete(p));
            work.add(p);
          }
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/slack/interactions`,
    idle: async () => {
      while (work.size) await Promise.all([...work]);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
