// Preloaded into a portal under bench (NODE_OPTIONS=--import): counts TLS connections the
// process opens (each is a handshake) and writes the count to BENCH_TLS_COUNT_FILE twice a second.
import { writeFileSync } from 'node:fs';
import tls from 'node:tls';

const file = process.env.BENCH_TLS_COUNT_FILE;
if (file) {
  let count = 0;
  const connect = tls.connect;
  tls.connect = function countedConnect(...args) {
    count++;
    return connect.apply(this, args);
  };
  const timer = setInterval(() => writeFileSync(file, String(count)), 500);
  timer.unref();
}
