import type { Me } from '../api';
import { avatarUrl, displayName } from '../profile';
import { hrefFor, type Route } from '../routing';
import { Avatar } from './Avatar';
import { LogoMark } from './icons';
import { SignOutButton } from './SignOutButton';

/** Props for Header. */
export interface HeaderProps {
  /** The signed-in user, or null. */
  me: Me | null;
  route: Route;
  /** Whether the API view exists (a build with an API route). */
  showApi: boolean;
}

const LINKS: { route: Route; label: string }[] = [
  { route: 'profile', label: 'Profile' },
  { route: 'api', label: 'API' },
];

/** The top bar: brand, navigation and account (when signed in). */
export function Header({ me, route, showApi }: HeaderProps) {
  const name = me ? displayName(me.user) : '';
  return (
    <header className="topbar">
      <div className="topbar-inner">
        <a className="brand" href={hrefFor('profile')}>
          <LogoMark className="brand-mark" width={28} height={28} />
          <span className="brand-name">Logto BFF</span>
          <span className="brand-tag">demo</span>
        </a>
        {me && (
          <>
            <nav className="nav" aria-label="Main">
              {LINKS.filter((link) => showApi || link.route !== 'api').map((link) => (
                <a
                  key={link.route}
                  className="nav-link"
                  href={hrefFor(link.route)}
                  aria-current={route === link.route ? 'page' : undefined}
                >
                  {link.label}
                </a>
              ))}
            </nav>
            <div className="account">
              <Avatar src={avatarUrl(me.user)} name={name} />
              <span className="account-name">{name}</span>
              <SignOutButton />
            </div>
          </>
        )}
      </div>
    </header>
  );
}
