// Who is signed in, as far as this page knows. The only writer is
// `refresh` (GET /api/me) and the API client's signed-out announcements, so
// a 401 seen by *any* call — the profile check, an API-view call, a re-check
// on focus — turns the page into the signed-out view.
import type { ApiProblem, BffApi, Me } from '../api';

/** The page's view of the session. */
export type SessionState =
  | { status: 'loading' }
  | { status: 'signed_in'; me: Me }
  /** `expired`: the BFF said session_expired — tell the user their session ended. */
  | { status: 'signed_out'; expired: boolean }
  | { status: 'error'; problem: ApiProblem };

/** An observable session state (fits React's useSyncExternalStore). */
export interface SessionStore {
  getState(): SessionState;
  subscribe(listener: () => void): () => void;
  /**
   * Asks the BFF who is signed in. `quiet` keeps the current view while
   * asking and ignores transient failures (503, network) when signed in —
   * used for background re-checks on focus and timers. Concurrent calls
   * share one request.
   */
  refresh(options?: { quiet?: boolean }): Promise<void>;
  /**
   * Drops what is known (back to `loading`) without asking the BFF — used
   * when the page goes into the back/forward cache, so a later restore
   * never paints the old profile before the re-check.
   */
  forget(): void;
  /** Stops listening to the API client. */
  dispose(): void;
}

/** Creates a store starting in `loading`; call `refresh()` to start. */
export function createSessionStore(api: Pick<BffApi, 'getMe' | 'onSignedOut'>): SessionStore {
  let state: SessionState = { status: 'loading' };
  let inFlight: Promise<void> | null = null;
  const listeners = new Set<() => void>();

  function set(next: SessionState): void {
    state = next;
    for (const listener of [...listeners]) listener();
  }

  function signOut(problem: ApiProblem): void {
    // A later plain 401 must not hide that the session *ended* (session_expired).
    const expired = problem.kind === 'session_expired' || (state.status === 'signed_out' && state.expired);
    if (state.status !== 'signed_out' || state.expired !== expired) set({ status: 'signed_out', expired });
  }

  const unsubscribe = api.onSignedOut(signOut);

  async function load(quiet: boolean): Promise<void> {
    if (!quiet && state.status !== 'loading') set({ status: 'loading' });
    const result = await api.getMe();
    if (result.ok) {
      set({ status: 'signed_in', me: result.data });
      return;
    }
    const { problem } = result;
    if (problem.kind === 'signed_out' || problem.kind === 'session_expired') {
      signOut(problem); // already announced by the client; idempotent
      return;
    }
    // A background check that hit a hiccup keeps what is on screen.
    if (quiet && state.status !== 'loading' && state.status !== 'error') return;
    set({ status: 'error', problem });
  }

  return {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    refresh(options = {}) {
      if (inFlight === null) {
        inFlight = load(options.quiet ?? false).finally(() => {
          inFlight = null;
        });
      } else if (!options.quiet && state.status !== 'loading') {
        set({ status: 'loading' });
      }
      return inFlight;
    },
    forget() {
      if (state.status !== 'loading') set({ status: 'loading' });
    },
    dispose: unsubscribe,
  };
}
