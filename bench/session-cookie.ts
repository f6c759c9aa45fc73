/**
 * `npx tsx bench/session-cookie.ts`: what reading and writing a session cookie costs, next-auth's
 * own encode and decode (what the portal used until 9d7e223: the key derived by HKDF on every
 * call) against lib/auth/session-cookie-codec.ts (the same format, the key derived once), side
 * by side in one process, alternating, three rounds of 3,000 each; CPU µs a call, and the median
 * of the rounds. Neither touches the network: this is the web server's share of a signed-in call.
 */
import { decode, encode } from 'next-auth/jwt';
import { sessionCookieCodec } from '@/lib/auth/session-cookie-codec';
import { cpuMicrosPerCall } from './cpu-per-call';
import { median } from './stats';

const SECRET = 'a-session-secret-of-the-bench-0123456789abcdef';
const N = 3_000;
const claims = { email: 'ada@bench.example.com', name: 'Ada', groups: ['staff', 'ml-users'], groupsAt: Date.now(), signedInAt: Date.now() };
const ours = sessionCookieCodec();
const cookie = await encode({ token: claims, secret: SECRET });

const codecs = [
  ["next-auth's own", { encode, decode }],
  ['session-cookie-codec', ours],
] as const;

const figures = new Map<string, { decode: number[]; encode: number[] }>(codecs.map(([name]) => [name, { decode: [], encode: [] }]));
for (let round = 1; round <= 3; round++) {
  for (const [name, codec] of codecs) {
    const f = figures.get(name) as { decode: number[]; encode: number[] };
    f.decode.push(await cpuMicrosPerCall(() => codec.decode({ token: cookie, secret: SECRET }), N, 200));
    f.encode.push(await cpuMicrosPerCall(() => codec.encode({ token: claims, secret: SECRET, maxAge: 3600 }), N, 200));
    process.stdout.write(`${name}, round ${round}: decode ${f.decode.at(-1)?.toFixed(1)} µs CPU, encode ${f.encode.at(-1)?.toFixed(1)} µs CPU\n`);
  }
}
const [own, kept] = codecs.map(([name]) => figures.get(name) as { decode: number[]; encode: number[] });
if (own && kept) {
  for (const op of ['decode', 'encode'] as const) {
    process.stdout.write(`${op}: median ${median(own[op]).toFixed(1)} → ${median(kept[op]).toFixed(1)} µs CPU, ×${(median(kept[op]) / median(own[op])).toFixed(2)}\n`);
  }
}
