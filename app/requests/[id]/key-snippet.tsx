'use client';

import { useState } from 'react';
import { KEY_ENV_VAR, usageSnippets } from '@/lib/portal/snippets';

/** How to call the gateway with this key; the key itself comes from an environment variable (lib/portal/snippets.ts says why). */
export function KeySnippet({ gatewayUrl, model }: { gatewayUrl?: string; model: string }) {
  const snippets = usageSnippets(gatewayUrl ?? 'https://your-llm-gateway.example.com', model);
  const [shown, setShown] = useState(0);
  const [copied, setCopied] = useState<number>();
  const [problem, setProblem] = useState<string>();
  const current = snippets[shown] ?? snippets[0];
  if (!current) return null;
  return (
    <section className="mt-6 rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="snippet-title" data-testid="key-snippet">
      <h2 id="snippet-title" className="font-semibold text-slate-900">
        Use the key
      </h2>
      <p className="mt-1 text-sm text-slate-700">
        Put the key in the <code className="font-mono">{KEY_ENV_VAR}</code> environment variable (for example from your password manager), never in code.
        {!gatewayUrl && ' Ask your platform team for the gateway address.'}
      </p>
      <div role="tablist" aria-label="Language" className="mt-3 flex gap-1">
        {snippets.map((s, i) => (
          <button
            key={s.id}
            type="button"
            role="tab"
            id={`snippet-tab-${s.id}`}
            aria-selected={i === shown}
            aria-controls="snippet-panel"
            onClick={() => {
              setShown(i);
              setCopied(undefined);
            }}
            className={`rounded-md px-3 py-1.5 text-sm font-medium ${i === shown ? 'bg-slate-800 text-white' : 'text-slate-800 hover:bg-slate-100'}`}
          >
            {s.label}
          </button>
        ))}
      </div>
      <div id="snippet-panel" role="tabpanel" aria-labelledby={`snippet-tab-${current.id}`} className="relative mt-2">
        {/* Focusable: on a narrow screen the code scrolls sideways, and a keyboard must reach it. */}
        <pre tabIndex={0} aria-label={`${current.label} example`} className="overflow-x-auto rounded-md bg-slate-900 p-3 pr-20 text-xs leading-relaxed text-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-sky-400" data-testid="snippet-code">
          <code>{current.code}</code>
        </pre>
        <button
          type="button"
          onClick={() =>
            void navigator.clipboard.writeText(current.code).then(
              () => setCopied(shown),
              () => setProblem('Copying failed; select the code and copy it by hand.'),
            )
          }
          className="absolute right-2 top-2 rounded bg-white/90 px-2 py-1 text-xs font-medium text-slate-900 hover:bg-white"
        >
          {copied === shown ? 'Copied' : 'Copy'}
          <span className="sr-only"> the {current.label} example</span>
        </button>
      </div>
      {problem && (
        <p role="alert" className="mt-2 text-sm text-rose-800">
          {problem}
        </p>
      )}
    </section>
  );
}
