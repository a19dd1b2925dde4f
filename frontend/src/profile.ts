// What the profile view shows, derived from /api/me's `user` (Logto's
// claim shapes: missing values are null, timestamps are epoch milliseconds).
import type { Identity, User } from './api';

/** A linked Discord account, as Logto's Discord connector describes it. */
export interface DiscordAccount {
  id: string;
  /** Discord's username (`details.name`). */
  username: string | null;
  /** Discord's display name (`details.rawData.global_name`). */
  displayName: string | null;
  avatar: string | null;
}

/** An organization the user belongs to, with their roles in it. */
export interface Membership {
  id: string;
  name: string | null;
  roles: string[];
}

/** Another linked social account (not Discord). */
export interface LinkedAccount {
  provider: string;
  id: string;
  name: string | null;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/** The linked Discord account, or null. */
export function discordAccount(user: User): DiscordAccount | null {
  const identity: Identity | undefined = user.identities?.discord;
  if (!identity) return null;
  const details = identity.details ?? {};
  const raw = details.rawData ?? {};
  return {
    id: text(details.id) ?? identity.userId,
    username: text(details.name),
    displayName: text(raw.global_name),
    avatar: text(details.avatar),
  };
}

/** Linked accounts other than Discord, sorted by provider. */
export function otherLinkedAccounts(user: User): LinkedAccount[] {
  return Object.entries(user.identities ?? {})
    .filter(([provider]) => provider !== 'discord')
    .map(([provider, identity]) => ({ provider, id: identity.userId, name: text(identity.details?.name) }))
    .sort((a, b) => a.provider.localeCompare(b.provider));
}

/** The name to greet the user by. */
export function displayName(user: User): string {
  const discord = discordAccount(user);
  return text(user.name) ?? discord?.displayName ?? text(user.username) ?? text(user.email) ?? 'Signed-in user';
}

/** The avatar to show: the Discord avatar when linked, else `picture`, else null (initials). */
export function avatarUrl(user: User): string | null {
  const url = discordAccount(user)?.avatar ?? text(user.picture);
  return url !== null && /^https?:\/\//i.test(url) ? url : null;
}

/**
 * Organizations with the user's roles in each, from `organizations`,
 * `organization_roles` (`<orgId>:<role>`) and, when Logto sent it,
 * `organization_data` (names).
 */
export function memberships(user: User): Membership[] {
  const byId = new Map<string, Membership>();
  const get = (id: string) => {
    let entry = byId.get(id);
    if (!entry) {
      entry = { id, name: null, roles: [] };
      byId.set(id, entry);
    }
    return entry;
  };
  for (const id of strings(user.organizations)) get(id);
  for (const pair of strings(user.organization_roles)) {
    const colon = pair.indexOf(':');
    if (colon <= 0) continue;
    const entry = get(pair.slice(0, colon));
    const role = pair.slice(colon + 1);
    if (role && !entry.roles.includes(role)) entry.roles.push(role);
  }
  const data: unknown = (user as Record<string, unknown>).organization_data;
  if (Array.isArray(data)) {
    for (const item of data) {
      if (typeof item !== 'object' || item === null) continue;
      const { id, name } = item as Record<string, unknown>;
      const orgId = text(id);
      if (orgId && byId.has(orgId)) get(orgId).name = text(name);
    }
  }
  return [...byId.values()];
}

/** Global roles (names). */
export function roles(user: User): string[] {
  return strings(user.roles);
}
