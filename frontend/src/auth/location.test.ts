import { describe, expect, it, vi } from 'vitest';
import { readAuthError, returnToFor, searchWithoutAuthError, takeAuthError } from './location';
import { signInHref } from './signIn';
import { describeAuthError } from './authErrorMessage';

describe('returnToFor', () => {
  it.each([
    [{ pathname: '/', search: '', hash: '' }, '/'],
    [{ pathname: '/', search: '', hash: '#/api' }, '/#/api'],
    [{ pathname: '/', search: '?authError=access_denied', hash: '' }, '/'],
    [{ pathname: '/app', search: '?tab=2&authError=x&b=c', hash: '#/api' }, '/app?tab=2&b=c#/api'],
    [{ pathname: '//evil.example', search: '', hash: '' }, '/'],
    [{ pathname: '', search: '?a=1', hash: '' }, '/?a=1'],
  ])('%j → %s', (location, expected) => {
    expect(returnToFor(location)).toBe(expected);
  });
});

describe('signInHref', () => {
  it('builds the three entry points with returnTo', () => {
    expect(signInHref('sign_in', '/#/api')).toBe('/auth/sign-in?returnTo=%2F%23%2Fapi');
    expect(signInHref('register', '/')).toBe('/auth/sign-in?returnTo=%2F&firstScreen=register');
    expect(signInHref('discord', '/x?y=1')).toBe('/auth/sign-in?returnTo=%2Fx%3Fy%3D1&directSignIn=social%3Adiscord');
  });

  it('round-trips returnTo through URLSearchParams', () => {
    const href = signInHref('sign_in', '/a?b=c&d=e#/api');
    expect(new URL(href, 'http://x').searchParams.get('returnTo')).toBe('/a?b=c&d=e#/api');
  });
});

describe('authError', () => {
  it('reads the code', () => {
    expect(readAuthError('?authError=access_denied')).toBe('access_denied');
    expect(readAuthError('?authError=')).toBeNull();
    expect(readAuthError('?other=1')).toBeNull();
    expect(searchWithoutAuthError('?authError=a')).toBe('');
    expect(searchWithoutAuthError('?x=1&authError=a')).toBe('?x=1');
  });

  it('takes it from the address bar with replaceState, keeping the rest', () => {
    window.history.replaceState({ kept: true }, '', '/start?x=1&authError=invalid_state#/api');
    const replace = vi.spyOn(window.history, 'replaceState');
    expect(takeAuthError(window)).toBe('invalid_state');
    expect(replace).toHaveBeenCalledTimes(1);
    expect(window.location.pathname + window.location.search + window.location.hash).toBe('/start?x=1#/api');
    expect(window.history.state).toEqual({ kept: true });
  });

  it('leaves the URL alone when there is no authError', () => {
    window.history.replaceState(null, '', '/?x=1');
    const replace = vi.spyOn(window.history, 'replaceState');
    expect(takeAuthError(window)).toBeNull();
    expect(replace).not.toHaveBeenCalled();
  });

  it('describes known and unknown codes in plain English', () => {
    expect(describeAuthError('access_denied').title).toBe('Sign-in was cancelled.');
    expect(describeAuthError('invalid_state').title).toMatch(/expired/);
    expect(describeAuthError('idp_unavailable').title).toMatch(/temporarily unavailable/);
    expect(describeAuthError('invalid_scope').detail).toContain('invalid_scope');
    expect(describeAuthError('weird_code').detail).toContain('weird_code');
    const hostile = describeAuthError('<script>alert(1)</script> call 555');
    expect(hostile.title).toBe('Sign-in did not complete.');
    expect(hostile.detail).not.toContain('script');
  });
});
