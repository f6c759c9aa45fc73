import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/**
 * The objects a V8 heap snapshot holds, by kind and constructor (`object Map`, `closure onAbort`):
 * how many and their own size. Two snapshots of one process, compared, show what accumulates.
 */
export function heapCounts(file: string): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const kind = types[snap.nodes[i + type] as number] ?? '?';
    // Strings, numbers and code vary with what ran last; what is kept shows in objects and closures.
    if (kind !== 'object' && kind !== 'closure' && kind !== 'array') continue;
    const key = `${kind} ${(snap.strings[snap.nodes[i + name] as number] ?? '?').slice(0, 80)}`;
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snap.nodes[i + size] as number;
    out.set(key, entry);
  }
  return out;
}
