import type { Me } from '../api';
import { Avatar } from '../components/Avatar';
import { Fact, NotSet } from '../components/Fact';
import { CheckIcon, DiscordIcon } from '../components/icons';
import { formatDate, formatDateTime, formatRelative } from '../format';
import { avatarUrl, discordAccount, displayName, memberships, otherLinkedAccounts, roles } from '../profile';

/** Props for ProfileView. */
export interface ProfileViewProps {
  me: Me;
  /** The time relative dates are computed from. */
  now?: Date;
}

function When({ value, now }: { value: string; now: Date }) {
  const absolute = formatDateTime(value);
  if (!absolute) return <NotSet />;
  return (
    <>
      <time dateTime={value}>{absolute}</time> <span className="muted">({formatRelative(value, now)})</span>
    </>
  );
}

function VerifiedBadge({ verified }: { verified: boolean }) {
  return verified ? (
    <span className="badge badge-success">
      <CheckIcon width={14} height={14} />
      Verified
    </span>
  ) : (
    <span className="badge badge-warning">Not verified</span>
  );
}

/** Who is signed in: identity, linked Discord account, access, session. */
export function ProfileView({ me, now = new Date() }: ProfileViewProps) {
  const { user, session } = me;
  const name = displayName(user);
  const discord = discordAccount(user);
  const linked = otherLinkedAccounts(user);
  const userRoles = roles(user);
  const orgs = memberships(user);
  const createdAt = typeof user.created_at === 'number' ? formatDate(user.created_at) : '';

  return (
    <div className="page">
      <section className="card profile-hero" aria-labelledby="page-title">
        <Avatar src={avatarUrl(user)} name={name} size="lg" />
        <div className="profile-hero-text">
          <h1 id="page-title" tabIndex={-1}>
            {name}
          </h1>
          {user.username && <p className="handle">@{user.username}</p>}
          {user.email && (
            <p className="profile-email">
              <span>{user.email}</span> <VerifiedBadge verified={user.email_verified === true} />
            </p>
          )}
        </div>
      </section>

      <div className="grid">
        <section className="card" aria-labelledby="account-title">
          <h2 id="account-title">Account</h2>
          <dl className="facts">
            <Fact label="Name">{user.name ?? <NotSet />}</Fact>
            <Fact label="Username">{user.username ?? <NotSet />}</Fact>
            <Fact label="Email">
              {user.email ? (
                <>
                  {user.email} <VerifiedBadge verified={user.email_verified === true} />
                </>
              ) : (
                <NotSet />
              )}
            </Fact>
            {user.phone_number && (
              <Fact label="Phone">
                {user.phone_number} <VerifiedBadge verified={user.phone_number_verified === true} />
              </Fact>
            )}
            {createdAt && <Fact label="Member since">{createdAt}</Fact>}
            <Fact label="User ID">
              <code>{user.sub}</code>
            </Fact>
            {linked.map((account) => (
              <Fact key={account.provider} label={`Linked: ${account.provider}`}>
                {account.name ?? <code>{account.id}</code>}
              </Fact>
            ))}
          </dl>
        </section>

        {discord && (
          <section className="card card-discord" aria-labelledby="discord-title">
            <h2 id="discord-title">
              <DiscordIcon />
              Discord account
            </h2>
            <dl className="facts">
              <Fact label="Username">{discord.username ?? <NotSet />}</Fact>
              <Fact label="Display name">{discord.displayName ?? <NotSet />}</Fact>
              <Fact label="Discord ID">
                <code>{discord.id}</code>
              </Fact>
            </dl>
          </section>
        )}

        {(userRoles.length > 0 || orgs.length > 0) && (
          <section className="card" aria-labelledby="access-title">
            <h2 id="access-title">Access</h2>
            {userRoles.length > 0 && (
              <>
                <h3>Roles</h3>
                <ul className="chips" aria-label="Roles">
                  {userRoles.map((role) => (
                    <li key={role} className="chip">
                      {role}
                    </li>
                  ))}
                </ul>
              </>
            )}
            {orgs.length > 0 && (
              <>
                <h3>Organizations</h3>
                <ul className="orgs">
                  {orgs.map((org) => (
                    <li key={org.id} className="org">
                      <span className="org-name">
                        {org.name ?? <code>{org.id}</code>}
                        {org.name && <code className="org-id">{org.id}</code>}
                      </span>
                      {org.roles.length > 0 ? (
                        <ul className="chips" aria-label={`Roles in ${org.name ?? org.id}`}>
                          {org.roles.map((role) => (
                            <li key={role} className="chip chip-quiet">
                              {role}
                            </li>
                          ))}
                        </ul>
                      ) : (
                        <span className="muted">No organization roles</span>
                      )}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </section>
        )}

        <section className="card" aria-labelledby="session-title">
          <h2 id="session-title">Session</h2>
          <dl className="facts">
            <Fact label="Signed in">
              <When value={session.authenticatedAt} now={now} />
            </Fact>
            <Fact label="Session expires">
              <When value={session.expiresAt} now={now} />
            </Fact>
          </dl>
          <p className="card-note">
            At the latest. Signing out ends it now, on this server and at Logto.
          </p>
        </section>
      </div>
    </div>
  );
}
