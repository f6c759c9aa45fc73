/** This process's CPU µs a call of `f`, over `calls` calls one after another, after `warmup` calls the JIT may learn from. */
export async function cpuMicrosPerCall(f: () => Promise<unknown>, calls: number, warmup: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await f();
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) await f();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
}
