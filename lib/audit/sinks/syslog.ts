import { type Socket, connect as netConnect, isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import type { AuditConfig } from '../../config/audit-schema';
import type { CloudEvent } from '../cloudevent';
import { type AuditSink, AuditSinkError } from '../sink';

type SyslogConfig = NonNullable<AuditConfig['syslog']>;
type Facility = SyslogConfig['facility'];

export interface SyslogSinkOptions {
  host: string;
  /** Default 601 (plain TCP, RFC 6587) or 6514 (TLS, RFC 5425). */
  port?: number;
  tls: boolean;
  /** PEM text of the CA that signed the server's certificate (the contents of audit.syslog.caFile); else the system's CAs. */
  ca?: string;
  appName: string;
  facility: Facility;
  timeoutSeconds: number;
  /** The HOSTNAME field; default os.hostname(). */
  hostname?: string;
}

/** RFC 5424 section 6.2.1 facility codes. */
const FACILITY_CODE: Record<Facility, number> = {
  user: 1,
  auth: 4,
  authpriv: 10,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};
/** Every record goes at severity 6, informational. */
const SEVERITY_INFO = 6;
const NILVALUE = '-';
const TYPE_PREFIX = 'dev.keyportal.';
/** RFC 5424 TIMESTAMP: at most 6 fraction digits, `Z` or a numeric offset. */
const RFC5424_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

/** A header field: printable US-ASCII only (RFC 5424 PRINTUSASCII), at most `max` characters, `-` when empty. */
function headerField(value: string, max: number): string {
  const printable = value.replace(/[^!-~]/g, '_').slice(0, max);
  return printable || NILVALUE;
}

function timestamp(time: string): string {
  if (RFC5424_TIME.test(time)) return time;
  const parsed = new Date(time);
  return Number.isNaN(parsed.getTime()) ? NILVALUE : parsed.toISOString();
}

/**
 * The CloudEvent as one JSON line. JSON.stringify already escapes C0 controls (so a newline in the
 * data stays `\n`) and lone surrogates (so the UTF-8 is well formed); DEL and the C1 controls it
 * leaves raw are escaped too, because syslog daemons rewrite control bytes on receive (rsyslog
 * turns DEL into `#177`), which would change the record. They can only occur inside JSON strings,
 * so the `\u` escape keeps the JSON meaning the same.
 */
function jsonLine(event: CloudEvent): string {
  return JSON.stringify(event).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Syslog over TCP (RFC 6587 octet counting) or TLS (RFC 5425): one RFC 5424 message per record,
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`, MSG the CloudEvent as JSON.
 *
 * Structured data is `-`: the whole event, id and subject included, is in MSG already, and an SD
 * element would need an SD-ID. Ours could only be `keyportal@32473`, and 32473 is the enterprise
 * number RFC 5612 reserves for documentation, not one we may use on the wire; a collector that
 * wants the id parses the JSON it has to parse anyway.
 *
 * Acknowledgement. Plain syslog over TCP has none: the server never answers. What a server does
 * do is close its side once it has read the client's end of stream, and rsyslog's imtcp closes a
 * session exactly then (after handing every complete frame it read to its queue). TCP delivers in
 * order, so reading the EOF means every byte before it was read. So `send` opens ONE connection
 * per batch, writes every frame, half-closes (FIN), and counts the server's close as the
 * acknowledgement; an error, a reset (a server that closes with unread bytes makes its kernel
 * answer with RST), a close that came while our bytes were still buffered here, or no close
 * within timeoutSeconds means "not acknowledged", and the shipper sends the batch again (the
 * consumer drops repeats by id).
 *
 * What it costs: a TCP handshake (and for TLS a TLS handshake and certificate check) per batch,
 * one round trip more for the close, and a TIME_WAIT socket on our side per batch (we close
 * first), which ties up an ephemeral port for a minute: harmless at the shipper's rate (one batch
 * of up to batchSize records per settle period), not a design for thousands of batches a
 * second. A long-lived connection would be cheaper, but would give no point at which we know the
 * server has a given record.
 *
 * What it does not prove. (1) That the record is on disk: rsyslog holds what it read in its
 * main queue, which an in-memory queue loses if the daemon dies (use a disk-assisted queue
 * there). (2) Anything across a daemon's shutdown: a daemon that exits after reading the batch but
 * before handling it leaves nothing unread, so the kernel closes the socket with a FIN, not a
 * reset, and that is indistinguishable from the answer to our EOF. Debian's rsyslog 8.2302 does
 * this now and then when stopped during a batch (tests/unit/audit-syslog.test.ts counts it), and
 * no plain-TCP client can tell; only a protocol with acknowledgements (RELP) closes that gap.
 * (3) With a TCP proxy in between, only that the proxy read it. Messages longer than the server's
 * maxMessageSize (rsyslog: 8 KiB by default) are truncated by the server, not refused.
 */
export class SyslogSink implements AuditSink {
  readonly kind = 'syslog' as const;
  private readonly port: number;
  private readonly pri: number;
  private readonly hostname: string;
  private readonly appName: string;
  private readonly procId: string;
  /** host:port for messages (IPv6 in brackets). */
  private readonly where: string;

  constructor(private readonly options: SyslogSinkOptions) {
    this.port = options.port ?? (options.tls ? 6514 : 601);
    this.pri = FACILITY_CODE[options.facility] * 8 + SEVERITY_INFO;
    this.hostname = headerField(options.hostname ?? osHostname(), 255);
    this.appName = headerField(options.appName, 48);
    this.procId = headerField(String(process.pid), 128);
    this.where = `${isIP(options.host) === 6 ? `[${options.host}]` : options.host}:${this.port}`;
  }

  /** One RFC 5424 message (without framing). */
  format(event: CloudEvent): string {
    const type = event.type.startsWith(TYPE_PREFIX) ? event.type.slice(TYPE_PREFIX.length) : event.type;
    const msgId = headerField(type, 32);
    return `<${this.pri}>1 ${timestamp(event.time)} ${this.hostname} ${this.appName} ${this.procId} ${msgId} ${NILVALUE} ${jsonLine(event)}`;
  }

  /** RFC 6587 octet counting: `<length in bytes> SP <message>`. */
  private frame(event: CloudEvent): Buffer {
    const message = Buffer.from(this.format(event), 'utf8');
    return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
  }

  async send(events: readonly CloudEvent[], signal: AbortSignal): Promise<void> {
    if (events.length === 0) return;
    const transport = this.options.tls ? 'TLS' : 'TCP';
    const fail = (why: string) => new AuditSinkError('syslog', `${events.length} record(s) to ${this.where} (${transport}) not acknowledged: ${why}`);
    if (signal.aborted) throw fail('aborted before sending');
    const payload = Buffer.concat(events.map((e) => this.frame(e)));
    const timeoutMs = Math.round(this.options.timeoutSeconds * 1000);

    await new Promise<void>((resolve, reject) => {
      const { host, tls, ca } = this.options;
      // SNI carries names only; an IP address is checked against the certificate's IP SANs.
      const socket: Socket = tls ? tlsConnect({ host, port: this.port, ca, servername: isIP(host) ? undefined : host }) : netConnect({ host, port: this.port });
      let settled = false;
      let serverClosed = false;
      let closedEarly = false;
      let flushed = false;

      const settle = (why?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        if (why === undefined) resolve();
        else reject(fail(why));
      };
      const timer = setTimeout(() => settle(`the server did not close the connection within ${this.options.timeoutSeconds}s`), timeoutMs);
      const onAbort = () => settle('aborted');
      signal.addEventListener('abort', onAbort, { once: true });

      socket.once(tls ? 'secureConnect' : 'connect', () => {
        socket.end(payload, () => {
          flushed = true;
        });
      });
      // A syslog server sends nothing; whatever it does send is read and dropped, so its EOF is seen.
      socket.resume();
      socket.on('end', () => {
        serverClosed = true;
        // Still holding bytes here: the server closed before it could have read the whole batch.
        if (!socket.writableEnded || socket.writableLength > 0) closedEarly = true;
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        settle(err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message);
      });
      socket.on('close', (hadError) => {
        if (hadError) return settle('connection failed');
        if (!serverClosed) return settle('connection closed without the server closing its side');
        if (closedEarly || !flushed) return settle('the server closed the connection before the whole batch was written');
        settle();
      });
    });
  }

  async close(): Promise<void> {
    // Nothing is pooled: each batch's connection is gone once send settles.
  }
}
