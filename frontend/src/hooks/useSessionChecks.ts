import { useEffect } from 'react';
import type { SessionState, SessionStore } from '../session/store';

// setTimeout's limit (~24.8 days); a longer wait just re-arms on the next check.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Keeps the page honest about the session:
 * - checks once on start;
 * - re-checks quietly when the window regains focus or becomes visible
 *   (the session may have ended in another tab or at the server);
 * - re-checks loudly when the page comes back from the back/forward cache,
 *   so the back button after signing out never shows a stale profile (and
 *   forgets the profile when the page goes into that cache);
 * - re-checks when the session's absolute lifetime ends.
 */
export function useSessionChecks(store: SessionStore, state: SessionState): void {
  useEffect(() => {
    void store.refresh();
    const quiet = () => void store.refresh({ quiet: true });
    const onVisibility = () => {
      if (document.visibilityState === 'visible') quiet();
    };
    const onPageShow = (event: PageTransitionEvent) => {
      if (event.persisted) void store.refresh();
    };
    const onPageHide = (event: PageTransitionEvent) => {
      if (event.persisted) store.forget();
    };
    window.addEventListener('focus', quiet);
    document.addEventListener('visibilitychange', onVisibility);
    window.addEventListener('pageshow', onPageShow);
    window.addEventListener('pagehide', onPageHide);
    return () => {
      window.removeEventListener('focus', quiet);
      document.removeEventListener('visibilitychange', onVisibility);
      window.removeEventListener('pageshow', onPageShow);
      window.removeEventListener('pagehide', onPageHide);
    };
  }, [store]);

  const expiresAt = state.status === 'signed_in' ? state.me.session.expiresAt : null;
  useEffect(() => {
    if (expiresAt === null) return;
    const wait = Date.parse(expiresAt) - Date.now() + 1000;
    if (Number.isNaN(wait)) return;
    const timer = window.setTimeout(() => void store.refresh({ quiet: true }), Math.min(Math.max(wait, 0), MAX_TIMER_MS));
    return () => window.clearTimeout(timer);
  }, [store, expiresAt]);
}
