'use client';

import { type RefObject, useEffect } from 'react';

/** An email's link asked for this control (`?renew=1`, `?topup=1`): scrolled into view and focused once it is there. */
export function useBringForward(asked: boolean, ref: RefObject<HTMLElement | null>, ready: unknown): void {
  useEffect(() => {
    if (asked && ref.current) {
      ref.current.scrollIntoView({ block: 'center' });
      ref.current.focus();
    }
  }, [asked, ref, ready]);
}
