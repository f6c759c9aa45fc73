import type { State } from '@/lib/domain/states';

const STYLE: Record<State, string> = {
  pending: 'bg-slate-100 text-slate-800 ring-slate-300',
  'in-review': 'bg-amber-100 text-amber-900 ring-amber-300',
  approved: 'bg-sky-100 text-sky-900 ring-sky-300',
  issued: 'bg-emerald-100 text-emerald-900 ring-emerald-300',
  denied: 'bg-rose-100 text-rose-900 ring-rose-300',
  failed: 'bg-rose-100 text-rose-900 ring-rose-300',
  revoked: 'bg-slate-200 text-slate-800 ring-slate-400',
  expired: 'bg-slate-200 text-slate-800 ring-slate-400',
};

const LABEL: Record<State, string> = {
  pending: 'Pending',
  'in-review': 'In review',
  approved: 'Approved',
  issued: 'Issued',
  denied: 'Denied',
  failed: 'Failed',
  revoked: 'Revoked',
  expired: 'Expired',
};

export function StateBadge({ state }: { state: State }) {
  return (
    <span data-state={state} className={`inline-flex items-center whitespace-nowrap rounded-full px-2.5 py-0.5 text-xs font-medium ring-1 ring-inset ${STYLE[state]}`}>
      {LABEL[state]}
    </span>
  );
}
