import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloudEvent } from '@/lib/audit/cloudevent';
import { SIGNATURE_HEADER, verifySignature } from '@/lib/crypto/signature';

/** The secret every test process signs audit batches with (testEnv passes it as KEYPORTAL_AUDIT_SECRET). */
export const AUDIT_SECRET = 'audit-test-secret-0123456789abcdef0123456789abcdef';

type Mode = 'ok' | 'error' | 'hang' | 'close';

/**
 * A collector the http sink POSTs to, as a SIEM's HTTP input would take it: it verifies the
 * signature, keeps every delivery (repeats included), and can answer 500, hang, or cut the
 * connection mid-batch while a test says so.
 */
export class AuditCollector {
  /** Every event delivered, in order, repeats included. */
  readonly deliveries: CloudEvent[] = [];
  /** Batches refused because their signature did not verify (must stay 0). */
  badSignatures = 0;
  batches = 0;
  mode: Mode = 'ok';
  private server: Server | undefined;
  private readonly hanging = new Set<ServerResponse>();

  get url(): string {
    const port = (this.server?.address() as AddressInfo | null)?.port;
    return `http://127.0.0.1:${port}/audit`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Delivered events about one request, in order, repeats included. */
  about(subject: string): CloudEvent[] {
    return this.deliveries.filter((e) => e.subject === subject);
  }

  /** One per id: what a consumer that drops repeats keeps. */
  distinct(subject?: string): CloudEvent[] {
    const seen = new Map<string, CloudEvent>();
    for (const e of subject ? this.about(subject) : this.deliveries) if (!seen.has(e.id)) seen.set(e.id, e);
    return [...seen.values()];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.mode === 'close') return void req.socket.destroy();
    if (this.mode === 'hang') {
      this.hanging.add(res);
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    if (this.mode === 'error') {
      res.writeHead(500).end('collector down for maintenance');
      return;
    }
    if (!verifySignature(req.headers[SIGNATURE_HEADER] as string | undefined, 'audit', body, [AUDIT_SECRET]).ok) {
      this.badSignatures++;
      res.writeHead(401).end('bad signature');
      return;
    }
    this.batches++;
    this.deliveries.push(...(JSON.parse(body) as CloudEvent[]));
    res.writeHead(202).end();
  }
}
