/**
 * A pure function's answers remembered per key, at most `kept` of them. Past the bound the memo
 * starts over: a bound, not an LRU, since the callers' keys are few (config patterns, the
 * addresses active at once) and a caller with more only pays what it paid without the memo.
 */
export function boundedMemo<V>(kept: number, compute: (key: string) => V): (key: string) => V {
  const memo = new Map<string, V>();
  return (key) => {
    let value = memo.get(key);
    if (value === undefined) {
      if (memo.size >= kept) memo.clear();
      value = compute(key);
      memo.set(key, value);
    }
    return value;
  };
}
