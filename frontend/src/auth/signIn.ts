// Links that start a sign-in at the BFF. They are plain top-level
// navigations (<a href>), never fetch: the BFF answers with a redirect to
// Logto.

/** The three ways to start: sign in, create an account, or go straight to Discord. */
export type SignInKind = 'sign_in' | 'register' | 'discord';

/** The BFF's sign-in route. */
export const SIGN_IN_PATH = '/auth/sign-in';
/** The BFF's sign-out route (a form POST). */
export const SIGN_OUT_PATH = '/auth/sign-out';

/** The URL for `kind`, returning to `returnTo` (a same-origin path) afterwards. */
export function signInHref(kind: SignInKind, returnTo: string): string {
  const params = new URLSearchParams({ returnTo });
  if (kind === 'register') params.set('firstScreen', 'register');
  if (kind === 'discord') params.set('directSignIn', 'social:discord');
  return `${SIGN_IN_PATH}?${params.toString()}`;
}
