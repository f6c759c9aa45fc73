/**
 * Reads a body to text, failing with `tooLarge()` as soon as it passes `limit` bytes: an endless
 * or oversized body costs `limit`, not its size. Used for request bodies and plugin replies.
 */
export async function readCapped(stream: ReadableStream<Uint8Array> | null, limit: number, tooLarge: () => Error): Promise<string> {
  if (!stream) return '';
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
