import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBffApi } from './api';
import { App } from './App';
import { createSessionStore } from './session/store';
import { alice, jsonResponse } from './test/fixtures';

let fetchMock: ReturnType<typeof vi.fn<typeof fetch>>;

/** Renders the real app (real API client and store) against a scripted fetch. */
function renderApp(authError: string | null = null, apiTarget: string | null = 'demo/hello') {
  const api = createBffApi();
  const store = createSessionStore(api);
  return render(<App api={api} store={store} authError={authError} apiTarget={apiTarget} />);
}

function route(handler: (path: string) => Response | Promise<Response>) {
  fetchMock.mockImplementation(async (input) => handler(new URL((input as Request).url).pathname));
}

beforeEach(() => {
  window.history.replaceState(null, '', '/');
  fetchMock = vi.fn<typeof fetch>();
  vi.stubGlobal('fetch', fetchMock);
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('App', () => {
  it('checks the session, then shows the profile with a real sign-out form', async () => {
    route(() => jsonResponse(200, alice));
    renderApp();
    expect(screen.getByRole('status').textContent).toMatch(/Checking your session/);
    expect(await screen.findByRole('heading', { level: 1, name: 'Alice Example' })).toBeTruthy();
    const button = screen.getByRole('button', { name: 'Sign out' });
    const form = button.closest('form');
    expect(form?.getAttribute('method')).toBe('post');
    expect(form?.getAttribute('action')).toBe('/auth/sign-out');
    expect(screen.getByRole('link', { name: 'Profile' }).getAttribute('aria-current')).toBe('page');
  });

  it('shows the signed-out view on 401', async () => {
    route(() => jsonResponse(401, { error: 'unauthorized', error_description: 'You are not signed in.' }));
    renderApp();
    expect(await screen.findByRole('link', { name: 'Sign in' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Sign out' })).toBeNull();
  });

  it('shows a retryable error on 503, and retry recovers', async () => {
    let calls = 0;
    route(() =>
      ++calls === 1
        ? jsonResponse(503, { error: 'store_unavailable', error_description: 'down' })
        : jsonResponse(200, alice),
    );
    renderApp();
    expect(await screen.findByRole('heading', { name: 'Service temporarily unavailable' })).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Alice Example' })).toBeTruthy();
  });

  it('shows the sign-in error and lets the user dismiss it', async () => {
    route(() => jsonResponse(401, { error: 'unauthorized', error_description: 'x' }));
    renderApp('access_denied');
    const alert = await screen.findByText('Sign-in was cancelled.');
    expect(alert).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Dismiss this message' }));
    expect(screen.queryByText('Sign-in was cancelled.')).toBeNull();
  });

  it('calls the API on the API view and turns a 401 there into the signed-out view', async () => {
    let expired = false;
    route((path) => {
      if (path === '/api/me') return jsonResponse(200, alice);
      if (path === '/api/proxy/demo/hello') {
        return expired
          ? jsonResponse(401, { error: 'session_expired', error_description: 'ended' })
          : jsonResponse(200, { echoed: true });
      }
      return new Response(null, { status: 404 });
    });
    renderApp();
    await screen.findByRole('heading', { level: 1, name: 'Alice Example' });

    act(() => {
      window.location.hash = '#/api';
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
    expect(await screen.findByText('200 OK')).toBeTruthy();
    await waitFor(() => expect(document.activeElement?.id).toBe('page-title'));

    expired = true;
    fireEvent.click(screen.getByRole('button', { name: 'Send again' }));
    expect(await screen.findByText('Your session ended. Sign in again to continue.')).toBeTruthy();
    // The links bring the user back to the API view after signing in.
    expect(screen.getByRole('link', { name: 'Sign in' }).getAttribute('href')).toBe(
      '/auth/sign-in?returnTo=%2F%23%2Fapi',
    );
  });

  it('has no API view, link or call when the build names no API route', async () => {
    route((path) => (path === '/api/me' ? jsonResponse(200, alice) : new Response(null, { status: 404 })));
    window.location.hash = '#/api';
    renderApp(null, null);
    expect(await screen.findByRole('heading', { level: 1, name: 'Alice Example' })).toBeTruthy();
    expect(screen.queryByRole('link', { name: 'API' })).toBeNull();
    expect(screen.getByRole('link', { name: 'Profile' })).toBeTruthy();
    const paths = fetchMock.mock.calls.map(([input]) => new URL((input as Request).url).pathname);
    expect(paths.filter((p) => p.startsWith('/api/proxy'))).toEqual([]);
  });

  it('re-checks the session when the window regains focus', async () => {
    let signedIn = true;
    route(() =>
      signedIn ? jsonResponse(200, alice) : jsonResponse(401, { error: 'unauthorized', error_description: 'x' }),
    );
    renderApp();
    await screen.findByRole('heading', { level: 1, name: 'Alice Example' });
    signedIn = false;
    act(() => {
      window.dispatchEvent(new FocusEvent('focus'));
    });
    expect(await screen.findByRole('link', { name: 'Sign in' })).toBeTruthy();
  });

  it('hides the profile when the page enters the back/forward cache and re-checks on restore', async () => {
    let signedIn = true;
    route(() =>
      signedIn ? jsonResponse(200, alice) : jsonResponse(401, { error: 'unauthorized', error_description: 'x' }),
    );
    renderApp();
    await screen.findByRole('heading', { level: 1, name: 'Alice Example' });
    act(() => {
      window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }));
    });
    expect(screen.queryByRole('heading', { level: 1, name: 'Alice Example' })).toBeNull();
    expect(screen.getByRole('status').textContent).toMatch(/Checking your session/);
    signedIn = false;
    act(() => {
      window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }));
    });
    expect(await screen.findByRole('link', { name: 'Sign in' })).toBeTruthy();
  });
});
