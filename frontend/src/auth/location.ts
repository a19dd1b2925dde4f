// Helpers for the page's own URL: the path to come back to after signing
// in, and the `authError` the BFF appends when a sign-in fails.

/** The parts of `window.location` these helpers read. */
export interface PageLocation {
  pathname: string;
  search: string;
  hash: string;
}

/** The query parameter the BFF's callback sets on failure: `/?authError=<code>`. */
export const AUTH_ERROR_PARAM = 'authError';

/** `search` without `authError` ("" when nothing is left, else starting with "?"). */
export function searchWithoutAuthError(search: string): string {
  const params = new URLSearchParams(search);
  params.delete(AUTH_ERROR_PARAM);
  const rest = params.toString();
  return rest ? `?${rest}` : '';
}

/**
 * The same-origin path to return to after signing in: path + search (minus
 * `authError`) + hash route. Always starts with a single "/" so the BFF
 * never has to reject it.
 */
export function returnToFor(location: PageLocation): string {
  const path = location.pathname.startsWith('/') && !location.pathname.startsWith('//') ? location.pathname : '/';
  return `${path}${searchWithoutAuthError(location.search)}${location.hash}`;
}

/** `authError`'s value, or null when absent or empty. */
export function readAuthError(search: string): string | null {
  const code = new URLSearchParams(search).get(AUTH_ERROR_PARAM);
  return code ? code : null;
}

/**
 * Reads `authError` from the page URL and removes it from the address bar
 * (history.replaceState, keeping other parameters, the hash and the
 * history state) so a reload or a shared link does not show it again.
 */
export function takeAuthError(win: Pick<Window, 'location' | 'history'> = window): string | null {
  const code = readAuthError(win.location.search);
  if (code !== null) {
    win.history.replaceState(win.history.state, '', returnToFor(win.location));
  }
  return code;
}
