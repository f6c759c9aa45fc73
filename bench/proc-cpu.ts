import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { childrenOf } from './portal/server';

/** Clock ticks a second for /proc/<pid>/stat's utime and stime. */
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU time (user + system, ms) a process and its node children have used so far; 0 when gone. */
export function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  return [pid, ...childrenOf(pid)].reduce((sum, p) => sum + ownCpuMs(p), 0);
}

function ownCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) in parentheses: utime is the 14th field, stime the 15th.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) / TICKS) * 1000;
  } catch {
    return 0;
  }
}

/** The test cluster's kube-apiserver and etcd, from the pid files tests/cluster/up.sh writes. */
export function clusterPids(): { apiserver?: number; etcd?: number } {
  const dir = process.env.KEYPORTAL_CLUSTER_DIR ?? path.resolve(import.meta.dirname, '../.cluster');
  const read = (name: string) => {
    const file = path.join(dir, `${name}.pid`);
    return existsSync(file) ? Number(readFileSync(file, 'utf8').trim().split(/\s+/)[0]) || undefined : undefined;
  };
  return { apiserver: read('kube-apiserver'), etcd: read('etcd') };
}

export type CpuReading = Record<string, number>;

/** CPU ms so far of each named process. */
export function readCpu(pids: Record<string, number | undefined>): CpuReading {
  return Object.fromEntries(Object.entries(pids).filter(([, pid]) => pid).map(([name, pid]) => [name, cpuMs(pid)]));
}

/** CPU ms per request of each process between two readings. */
export function cpuPerRequest(before: CpuReading, after: CpuReading, requests: number): CpuReading {
  return Object.fromEntries(Object.keys(after).map((k) => [k, Number((((after[k] ?? 0) - (before[k] ?? 0)) / Math.max(1, requests)).toFixed(2))]));
}
