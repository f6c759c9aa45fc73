import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type AddressObject, simpleParser } from 'mailparser';

export interface OutboxMessage {
  file: string;
  date?: string;
  to: string[];
  subject: string;
  text: string;
}

const addresses = (a: AddressObject | AddressObject[] | undefined): string[] =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((o) => o.value.map((v) => (v.address ?? '').toLowerCase())).filter(Boolean);

/**
 * The embedded outbox, newest first, only the messages addressed to `recipient`: a key sent by
 * email is in its owner's message, and nobody else's page shows it.
 */
export async function readOutbox(dir: string, recipient: string, limit = 50): Promise<OutboxMessage[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.eml') && !n.startsWith('.'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: OutboxMessage[] = [];
  // File names start with the send time, so a reverse sort is newest first.
  for (const name of names.sort().reverse()) {
    if (out.length >= limit) break;
    const mail = await simpleParser(await readFile(path.join(dir, name)));
    const to = addresses(mail.to);
    if (!to.includes(recipient.toLowerCase())) continue;
    out.push({ file: name, ...(mail.date ? { date: mail.date.toISOString() } : {}), to, subject: mail.subject ?? '(no subject)', text: mail.text ?? '' });
  }
  return out;
}
