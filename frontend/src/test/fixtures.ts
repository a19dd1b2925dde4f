// Test data in the contract's shapes (see api/openapi.yaml examples).
import type { Me } from '../api';

/** A JSON response like the BFF's. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers },
  });
}

/** The password user `alice` from the dev identity provider. */
export const alice: Me = {
  user: {
    sub: 'u_alice',
    name: 'Alice Example',
    username: 'alice',
    picture: null,
    email: 'alice@example.test',
    email_verified: true,
    phone_number: null,
    phone_number_verified: false,
    roles: ['admin'],
    organizations: ['org_acme'],
    organization_roles: ['org_acme:editor'],
    custom_data: {},
    identities: {},
    created_at: 1795632365819,
    updated_at: 1795634181455,
  },
  session: { authenticatedAt: '2026-11-25T19:16:33Z', expiresAt: '2026-12-09T19:16:33Z' },
};

/** The Discord user `nelly`, as Logto's Discord connector reports her. */
export const nelly: Me = {
  user: {
    sub: 'w9opkhw0gozt',
    name: 'nelly',
    username: null,
    picture: 'https://cdn.discordapp.com/avatars/80351110224678912/picture',
    email: 'nelly@discord.com',
    email_verified: true,
    roles: [],
    identities: {
      discord: {
        userId: '80351110224678912',
        details: {
          id: '80351110224678912',
          name: 'nelly',
          email: 'nelly@discord.com',
          avatar: 'https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe',
          rawData: { global_name: 'Nelly', username: 'nelly' },
        },
      },
    },
    created_at: 1795633869169,
    updated_at: 1795634193396,
  },
  session: { authenticatedAt: '2026-11-25T19:16:33Z', expiresAt: '2026-12-09T19:16:33Z' },
};
