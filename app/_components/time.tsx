/** A timestamp readable by people and machines; UTC so server and browser render the same text. */
export function Time({ iso }: { iso: string }) {
  const d = new Date(iso);
  const text = Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return <time dateTime={iso}>{text}</time>;
}
