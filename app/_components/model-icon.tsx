const BUNDLED: Record<string, { letter: string; className: string }> = {
  openai: { letter: 'O', className: 'bg-emerald-700' },
  anthropic: { letter: 'A', className: 'bg-orange-800' },
  mistral: { letter: 'M', className: 'bg-amber-700' },
  google: { letter: 'G', className: 'bg-blue-700' },
  meta: { letter: 'M', className: 'bg-indigo-700' },
  server: { letter: 'S', className: 'bg-slate-700' },
};

/** A bundled icon name, an image URL, or the title's first letter. Decorative: the title is beside it. */
export function ModelIcon({ icon, title }: { icon?: string; title: string }) {
  if (icon && /^(https:\/\/|\/)/.test(icon)) {
    return <img src={icon} alt="" className="h-10 w-10 rounded-md object-contain" />;
  }
  const known = icon ? BUNDLED[icon] : undefined;
  return (
    <span aria-hidden="true" className={`flex h-10 w-10 shrink-0 items-center justify-center rounded-md text-lg font-semibold text-white ${known?.className ?? 'bg-slate-600'}`}>
      {known?.letter ?? title.charAt(0).toUpperCase()}
    </span>
  );
}
