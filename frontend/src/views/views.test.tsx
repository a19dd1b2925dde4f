import { fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { ProxyAnswer } from '../api';
import { problemFromResponse } from '../api';
import { alice, nelly } from '../test/fixtures';
import { ApiView } from './ApiView';
import { ProfileView } from './ProfileView';
import { SignedOutView } from './SignedOutView';

const NOW = new Date('2026-11-25T20:00:00Z');

describe('SignedOutView', () => {
  it('offers the three sign-in links, each returning to the current page', () => {
    render(<SignedOutView expired={false} returnTo="/#/api" />);
    const href = (name: string) => screen.getByRole('link', { name }).getAttribute('href');
    expect(href('Sign in')).toBe('/auth/sign-in?returnTo=%2F%23%2Fapi');
    expect(href('Create account')).toBe('/auth/sign-in?returnTo=%2F%23%2Fapi&firstScreen=register');
    expect(href('Continue with Discord')).toBe('/auth/sign-in?returnTo=%2F%23%2Fapi&directSignIn=social%3Adiscord');
    expect(screen.queryByText(/session ended/i)).toBeNull();
  });

  it('says the session ended when it expired', () => {
    render(<SignedOutView expired returnTo="/" />);
    expect(screen.getByRole('status').textContent).toBe('Your session ended. Sign in again to continue.');
  });
});

describe('ProfileView', () => {
  it('shows a password user: names, verified email, roles, organizations, session end', () => {
    render(<ProfileView me={alice} now={NOW} />);
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Alice Example');
    expect(screen.getByText('@alice')).toBeTruthy();
    expect(screen.getAllByText('alice@example.test').length).toBeGreaterThan(0);
    expect(screen.getAllByText('Verified').length).toBeGreaterThan(0);
    expect(within(screen.getByRole('list', { name: 'Roles' })).getByText('admin')).toBeTruthy();
    expect(within(screen.getByRole('list', { name: 'Roles in org_acme' })).getByText('editor')).toBeTruthy();
    const expires = screen.getByText('Session expires').parentElement;
    expect(expires?.querySelector('time')?.getAttribute('dateTime')).toBe('2026-12-09T19:16:33Z');
    expect(expires?.textContent).toContain('in 2 weeks');
    // No Discord account, no picture: initials.
    expect(screen.queryByRole('heading', { name: /Discord/ })).toBeNull();
    expect(screen.getByTestId('avatar-initials').textContent).toBe('AE');
  });

  it('shows the linked Discord account and uses its avatar', () => {
    const { container } = render(<ProfileView me={nelly} now={NOW} />);
    const card = screen.getByRole('heading', { name: 'Discord account' }).closest('section');
    if (!card) throw new Error('no Discord card');
    const fact = (label: string) => within(card).getByText(label).nextElementSibling?.textContent;
    expect(fact('Username')).toBe('nelly');
    expect(fact('Display name')).toBe('Nelly');
    expect(fact('Discord ID')).toBe('80351110224678912');
    const img = container.querySelector('img.avatar');
    expect(img?.getAttribute('src')).toBe(
      'https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe',
    );
    // Discord users have no username: "Not set".
    expect(screen.getAllByText('Not set').length).toBeGreaterThan(0);
  });

  it('falls back to initials when the avatar cannot load', () => {
    const { container } = render(<ProfileView me={nelly} now={NOW} />);
    const img = container.querySelector('img.avatar');
    if (!img) throw new Error('no avatar image');
    fireEvent.error(img);
    expect(container.querySelector('img.avatar')).toBeNull();
    expect(screen.getByTestId('avatar-initials').textContent).toBe('N');
  });
});

describe('ApiView', () => {
  const answer: ProxyAnswer = {
    path: '/api/proxy/demo/hello',
    status: 200,
    statusText: '',
    contentType: 'application/json',
    body: { kind: 'json', value: { sub: 'u_alice', scope: 'read:demo' } },
  };

  it('shows the status and JSON body of the answer', () => {
    render(<ApiView target="demo/hello" state={{ status: 'done', answer }} onCall={() => {}} />);
    expect(screen.getByTestId('api-status').textContent).toBe('200 OK');
    expect(screen.getByLabelText('Response body').textContent).toBe(
      JSON.stringify({ sub: 'u_alice', scope: 'read:demo' }, null, 2),
    );
    expect(screen.getByText('/api/proxy/demo/hello')).toBeTruthy();
  });

  it('explains a route that is not configured', () => {
    const problem = problemFromResponse(404, { error: 'not_found', error_description: 'No such API route.' });
    render(<ApiView target="billing/invoices" state={{ status: 'failed', problem }} onCall={() => {}} />);
    const note = screen.getByTestId('api-not-configured').textContent;
    expect(note).toContain('Nothing was found at /api/proxy/billing/invoices.');
    expect(note).toContain('The server said: “No such API route.”');
    expect(note).toContain('no API route named “billing” is configured');
  });

  it('offers a retry after a 503 and calls again on click', () => {
    const onCall = vi.fn();
    const problem = problemFromResponse(503, { error: 'store_unavailable', error_description: 'x' });
    render(<ApiView target="demo/hello" state={{ status: 'failed', problem }} onCall={onCall} />);
    expect(screen.getByRole('alert').textContent).toMatch(/temporarily unavailable/);
    fireEvent.click(screen.getByRole('button', { name: 'Send again' }));
    expect(onCall).toHaveBeenCalledTimes(1);
  });

  it('disables the button while a call is running', () => {
    render(<ApiView target="demo/hello" state={{ status: 'loading', previous: null }} onCall={() => {}} />);
    const button = screen.getByRole('button', { name: 'Sending…' }) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    expect(screen.getByText(/Calling the API/)).toBeTruthy();
  });
});
