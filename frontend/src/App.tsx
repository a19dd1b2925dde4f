import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { BffApi } from './api';
import { returnToFor } from './auth/location';
import { AuthErrorBanner } from './components/AuthErrorBanner';
import { Header } from './components/Header';
import { useProxyCall } from './hooks/useProxyCall';
import { useSessionChecks } from './hooks/useSessionChecks';
import { displayName } from './profile';
import { useRoute } from './routing';
import type { SessionStore } from './session/store';
import { ApiView } from './views/ApiView';
import { LoadingView } from './views/LoadingView';
import { ProblemView } from './views/ProblemView';
import { ProfileView } from './views/ProfileView';
import { SignedOutView } from './views/SignedOutView';

/** Props for App: its collaborators, injected so tests can give their own. */
export interface AppProps {
  api: Pick<BffApi, 'callProxy'>;
  store: SessionStore;
  /** `authError` taken from the URL at start-up, or null. */
  authError: string | null;
  /** `<route>/<path>` for the API view, or null for no API view. */
  apiTarget: string | null;
}

const APP_NAME = 'Logto BFF demo';

function focusHeading(): void {
  document.querySelector<HTMLElement>('#page-title')?.focus();
}

/** The whole page: header, optional sign-in error, and the view for the session state and route. */
export function App({ api, store, authError: initialAuthError, apiTarget }: AppProps) {
  const session = useSyncExternalStore(store.subscribe, store.getState);
  const hashRoute = useRoute();
  // Without an API target there is no API view: #/api shows the profile.
  const route = apiTarget === null ? 'profile' : hashRoute;
  const [authError, setAuthError] = useState(initialAuthError);
  useSessionChecks(store, session);

  const signedIn = session.status === 'signed_in';
  const me = signedIn ? session.me : null;
  const [proxy, callProxy] = useProxyCall(api, apiTarget ?? '', me?.user.sub ?? null);

  // The API view calls the API once when first shown.
  useEffect(() => {
    if (signedIn && route === 'api' && proxy.status === 'idle') callProxy();
  }, [signedIn, route, proxy.status, callProxy]);

  // Move focus to the new view's heading after in-app navigation (not on first load).
  const firstRoute = useRef(true);
  useEffect(() => {
    if (firstRoute.current) {
      firstRoute.current = false;
      return;
    }
    focusHeading();
  }, [route]);

  let title = APP_NAME;
  if (session.status === 'signed_out') title = `Sign in — ${APP_NAME}`;
  else if (me) title = `${route === 'api' ? 'API' : displayName(me.user)} — ${APP_NAME}`;
  useEffect(() => {
    document.title = title;
  }, [title]);

  return (
    <>
      <a
        className="skip-link"
        href="#main"
        onClick={(event) => {
          // Not a hash change: the hash holds the route.
          event.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <Header me={me} route={route} showApi={apiTarget !== null} />
      <main id="main" className="main" tabIndex={-1}>
        {authError && (
          <AuthErrorBanner
            code={authError}
            onDismiss={() => {
              setAuthError(null);
              document.getElementById('main')?.focus();
            }}
          />
        )}
        {session.status === 'loading' && <LoadingView />}
        {session.status === 'error' && <ProblemView problem={session.problem} onRetry={() => void store.refresh()} />}
        {session.status === 'signed_out' && (
          <SignedOutView expired={session.expired} returnTo={returnToFor(window.location)} />
        )}
        {me && route === 'profile' && <ProfileView me={me} />}
        {me && route === 'api' && apiTarget !== null && (
          <ApiView target={apiTarget} state={proxy} onCall={callProxy} />
        )}
      </main>
      <footer className="footer">
        <p>
          Tokens never reach this page: the browser holds only an HttpOnly, SameSite=Strict session cookie. Every API
          call is same-origin and carries <code>X-CSRF: 1</code>.
        </p>
      </footer>
    </>
  );
}
