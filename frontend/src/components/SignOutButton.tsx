import { SIGN_OUT_PATH } from '../auth/signIn';

/**
 * A real form POST to the BFF's sign-out route: a top-level navigation, so
 * the BFF can clear the cookie and redirect to Logto's end-session page.
 */
export function SignOutButton() {
  return (
    <form method="post" action={SIGN_OUT_PATH} className="sign-out-form">
      <button type="submit" className="button button-quiet button-small">
        Sign out
      </button>
    </form>
  );
}
