import type net from 'node:net';

/**
 * Reads one HTTP/1.1 answer off a raw socket, or null when the server closes it. A chunked body
 * is waited for to its last chunk and returned as it came (chunk sizes included).
 */
export function nextAnswer(socket: net.Socket, timeoutMs: number): Promise<{ head: string; body: string } | null> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => done(() => reject(new Error(`no answer within ${timeoutMs} ms`))), timeoutMs);
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      const rest = buf.slice(end + 4);
      if (/^transfer-encoding: chunked/im.test(head)) {
        if (rest.endsWith('0\r\n\r\n')) done(() => resolve({ head, body: rest }));
        return;
      }
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (rest.length >= length) done(() => resolve({ head, body: rest.slice(0, length) }));
    };
    const onClose = () => done(() => resolve(null));
    function done(then: () => void) {
      clearTimeout(timer);
      socket.off('data', onData).off('close', onClose).off('end', onClose);
      then();
    }
    socket.on('data', onData).on('close', onClose).on('end', onClose);
  });
}
