import { signInHref } from '../auth/signIn';
import { CookieIcon, DiscordIcon, ExchangeIcon, LockIcon } from '../components/icons';

/** Props for SignedOutView. */
export interface SignedOutViewProps {
  /** The BFF said session_expired: say the session ended. */
  expired: boolean;
  /** Where to come back to after signing in (a same-origin path). */
  returnTo: string;
}

/** The welcome screen: three ways to sign in, each a plain link to the BFF. */
export function SignedOutView({ expired, returnTo }: SignedOutViewProps) {
  return (
    <div className="signed-out">
      <section className="card hero" aria-labelledby="page-title">
        {expired && (
          <p className="notice notice-warning" role="status">
            Your session ended. Sign in again to continue.
          </p>
        )}
        <p className="eyebrow">Backend-for-frontend demo</p>
        <h1 id="page-title" tabIndex={-1}>
          Sign in without tokens in your browser
        </h1>
        <p className="lede">
          This app signs you in through Logto. Your access, refresh and ID tokens stay on the server; this page only ever
          holds a secure session cookie that scripts cannot read.
        </p>
        <div className="actions">
          <a className="button button-primary" href={signInHref('sign_in', returnTo)}>
            Sign in
          </a>
          <a className="button button-secondary" href={signInHref('register', returnTo)}>
            Create account
          </a>
        </div>
        <div className="divider" role="presentation">
          <span>or</span>
        </div>
        <a className="button button-discord" href={signInHref('discord', returnTo)}>
          <DiscordIcon />
          Continue with Discord
        </a>
      </section>
      <ul className="features" aria-label="How it works">
        <li>
          <LockIcon />
          <span>
            <strong>Tokens stay server-side.</strong> The BFF keeps them in its session store.
          </span>
        </li>
        <li>
          <CookieIcon />
          <span>
            <strong>One HttpOnly cookie.</strong> SameSite=Strict, holding only an opaque session id.
          </span>
        </li>
        <li>
          <ExchangeIcon />
          <span>
            <strong>APIs through the BFF.</strong> It adds the access token on the way out.
          </span>
        </li>
      </ul>
    </div>
  );
}
