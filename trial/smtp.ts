import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  from: string;
  subject: string;
  text: string;
  html: string;
  /** The raw header block, to check nothing was injected. */
  headerLines: string[];
  authUser?: string;
}

export interface TestSmtpOptions {
  /** TLS from the first byte (port 465 style). */
  secure?: boolean;
  /** Offer STARTTLS (needs key and cert). */
  starttls?: boolean;
  tls?: { key: string; cert: string };
  auth?: { user: string; pass: string };
  /** Also write each message as JSON here, for tests in other processes (Playwright workers). */
  dumpDir?: string;
  /** Where it listens: loopback unless a trial runs it as a pod. */
  host?: string;
  /** A fixed port (a trial's Service points at it); 0 picks a free one. */
  port?: number;
  /** Told each message as it arrives (a trial prints it, so `kubectl logs` is the mailbox). */
  onMessage?: (mail: ReceivedMail) => void;
  /**
   * false: each message is taken and recorded by its envelope only (subject, text, html empty),
   * its body read and dropped, as a relay that queues it would. The benches' sink: parsing every
   * message (mailparser, linkify) was a tenth of the bench's own CPU, on the cores the portal uses.
   */
  parse?: boolean;
}

/**
 * A real SMTP server (npm smtp-server) that parses what it gets with mailparser: the tests' on
 * 127.0.0.1, and a trial's mail relay (`node trial.mjs smtp`, STARTTLS with the trial's CA).
 */
export class TestSmtp {
  readonly messages: ReceivedMail[] = [];
  /** Connections open now, the most open at once, and all ever opened (pooling shows in these). */
  openConnections = 0;
  peakConnections = 0;
  connectionsOpened = 0;
  private server: SMTPServer | undefined;
  private port = 0;

  constructor(private readonly options: TestSmtpOptions = {}) {
    this.port = options.port ?? 0;
  }

  get address(): { host: string; port: number } {
    return { host: this.options.host ?? '127.0.0.1', port: this.port };
  }

  async start(): Promise<void> {
    const { secure, starttls, tls, auth } = this.options;
    const disabled: string[] = [];
    if (!starttls && !secure) disabled.push('STARTTLS');
    if (!auth) disabled.push('AUTH');
    const options: SMTPServerOptions = {
      secure: Boolean(secure),
      ...(tls ?? {}),
      disabledCommands: disabled,
      authOptional: !auth,
      allowInsecureAuth: false,
      logger: false,
      onConnect: (_session, cb) => {
        this.connectionsOpened++;
        this.peakConnections = Math.max(this.peakConnections, ++this.openConnections);
        cb();
      },
      onClose: () => {
        this.openConnections--;
      },
      onAuth: (a, _session, cb) => {
        if (auth && a.username === auth.user && a.password === auth.pass) cb(null, { user: a.username });
        else cb(new Error('Invalid username or password'));
      },
      onData: (stream, session, cb) => {
        const parsed: Promise<ParsedMail | undefined> = this.options.parse === false ? drained(stream) : simpleParser(stream);
        parsed
          .then((mail) => {
            const received: ReceivedMail = {
              to: session.envelope.rcptTo.map((r) => r.address),
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              subject: mail?.subject ?? '',
              text: mail?.text ?? '',
              html: typeof mail?.html === 'string' ? mail.html : '',
              headerLines: mail?.headerLines.map((h) => h.line) ?? [],
              authUser: typeof session.user === 'string' ? session.user : undefined,
            };
            this.messages.push(received);
            this.options.onMessage?.(received);
            if (this.options.dumpDir) {
              // Whole or not at all: another process reads the folder while messages arrive, and
              // a file it opens between create and write is empty.
              const file = path.join(this.options.dumpDir, `${Date.now()}-${this.messages.length}.json`);
              writeFileSync(`${file}.part`, JSON.stringify(received));
              renameSync(`${file}.part`, file);
            }
            cb();
          })
          .catch((err: Error) => cb(err));
      },
    };
    const server = new SMTPServer(options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.options.host ?? '127.0.0.1', () => resolve());
    });
    this.port = (server.server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Down: connections are refused until start() again (on the same port). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  to(address: string): ReceivedMail[] {
    return this.messages.filter((m) => m.to.includes(address));
  }
}

/** Reads a message's body to its end and keeps nothing of it. */
async function drained(stream: Readable): Promise<undefined> {
  await finished(stream.resume());
  return undefined;
}
