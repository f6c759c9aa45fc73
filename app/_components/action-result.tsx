/** The outcome of the last action and any polling trouble, announced politely to screen readers. */
export function ActionResult({ result, error, testId, className = 'mt-4' }: { result?: { ok: boolean; message: string }; error?: string; testId: string; className?: string }) {
  return (
    <div aria-live="polite" className={`${className} min-h-6`}>
      {result && (
        <p role="status" data-testid={testId} className={`rounded-md p-3 text-sm ${result.ok ? 'bg-emerald-50 text-emerald-950' : 'bg-rose-50 text-rose-900'}`}>
          {result.message}
        </p>
      )}
      {error && <p className="text-sm text-amber-900">{error}</p>}
    </div>
  );
}
