import net from 'node:net';

/** What nodemailer's `getSocket` hands back: a connected socket it then speaks SMTP over. */
export interface SocketOptions {
  connection: net.Socket;
}

type GetSocket = (options: unknown, callback: (err: Error | null, socketOptions: SocketOptions | false) => void) => void;

/**
 * nodemailer's `getSocket`: the TCP connection to the SMTP server, opened with Nagle's algorithm
 * off. nodemailer opens its own without TCP_NODELAY and writes a message as one small write per
 * MIME part; the last of them (the closing `.`) then waits for the ACK of the ones before it, which
 * the server delays by up to 40 ms (Linux's delayed ACK): ~42 ms an email, measured with strace,
 * so one pooled connection sent at most ~23 emails a second. nodemailer then greets, upgrades to
 * TLS (`tls` from the first byte, or STARTTLS) and logs in over this socket as over its own.
 */
export function smtpSocket(host: string, port: number, timeoutMs: number): GetSocket {
  return (_options, callback) => {
    const socket = net.connect({ host, port, noDelay: true, keepAlive: true });
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', settle);
      if (err) {
        socket.destroy();
        callback(err, false);
      } else {
        callback(null, { connection: socket });
      }
    };
    // The shape nodemailer gives its own connect timeout: lib/mail/smtp.ts reads it as unreachable.
    const timer = setTimeout(() => settle(Object.assign(new Error(`Connection timeout after ${timeoutMs} ms`), { code: 'ETIMEDOUT', command: 'CONN' })), timeoutMs);
    socket.once('error', settle);
    socket.once('connect', () => settle(null));
  };
}
