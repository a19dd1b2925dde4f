import { describe, expect, it } from 'vitest';
import type { ApiProblem, ApiResult, BffApi, Me } from '../api';
import { problemFromResponse } from '../api';
import { alice } from '../test/fixtures';
import { createSessionStore } from './store';

/** A fake API whose getMe answers come from a queue; it announces 401s like the real client. */
function fakeApi(answers: ApiResult<Me>[]) {
  const listeners = new Set<(p: ApiProblem) => void>();
  const api: Pick<BffApi, 'getMe' | 'onSignedOut'> = {
    async getMe() {
      const next = answers.shift();
      if (!next) throw new Error('no more answers');
      if (!next.ok && (next.problem.kind === 'signed_out' || next.problem.kind === 'session_expired')) {
        for (const l of listeners) l(next.problem);
      }
      return next;
    },
    onSignedOut(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const announce = (problem: ApiProblem) => listeners.forEach((l) => l(problem));
  return { api, announce };
}

const ok = (me: Me): ApiResult<Me> => ({ ok: true, status: 200, data: me });
const fail = (status: number, error?: string): ApiResult<Me> => ({
  ok: false,
  problem: problemFromResponse(status, error ? { error, error_description: 'x' } : null),
});

describe('session store', () => {
  it('starts loading and becomes signed in', async () => {
    const { api } = fakeApi([ok(alice)]);
    const store = createSessionStore(api);
    expect(store.getState()).toEqual({ status: 'loading' });
    await store.refresh();
    expect(store.getState()).toEqual({ status: 'signed_in', me: alice });
  });

  it('becomes signed out on 401, and expired on session_expired', async () => {
    const { api } = fakeApi([fail(401, 'unauthorized'), fail(401, 'session_expired')]);
    const store = createSessionStore(api);
    await store.refresh();
    expect(store.getState()).toEqual({ status: 'signed_out', expired: false });
    await store.refresh();
    expect(store.getState()).toEqual({ status: 'signed_out', expired: true });
  });

  it('keeps "your session ended" when a later check only says unauthorized', async () => {
    const { api } = fakeApi([fail(401, 'session_expired'), fail(401, 'unauthorized')]);
    const store = createSessionStore(api);
    await store.refresh();
    await store.refresh({ quiet: true });
    expect(store.getState()).toEqual({ status: 'signed_out', expired: true });
  });

  it('shows an error on 503 and recovers on retry', async () => {
    const { api } = fakeApi([fail(503, 'store_unavailable'), ok(alice)]);
    const store = createSessionStore(api);
    await store.refresh();
    const state = store.getState();
    expect(state.status).toBe('error');
    if (state.status === 'error') expect(state.problem.kind).toBe('unavailable');
    await store.refresh();
    expect(store.getState().status).toBe('signed_in');
  });

  it('keeps the profile when a quiet re-check hits a 503', async () => {
    const { api } = fakeApi([ok(alice), fail(503)]);
    const store = createSessionStore(api);
    await store.refresh();
    await store.refresh({ quiet: true });
    expect(store.getState()).toEqual({ status: 'signed_in', me: alice });
  });

  it('signs out when any other call sees a 401 (e.g. the API view)', async () => {
    const { api, announce } = fakeApi([ok(alice)]);
    const store = createSessionStore(api);
    await store.refresh();
    const seen: string[] = [];
    store.subscribe(() => seen.push(store.getState().status));
    announce(problemFromResponse(401, { error: 'session_expired', error_description: 'x' }));
    expect(store.getState()).toEqual({ status: 'signed_out', expired: true });
    expect(seen).toEqual(['signed_out']);
  });

  it('shares one request between concurrent refreshes', async () => {
    const { api } = fakeApi([ok(alice)]);
    const store = createSessionStore(api);
    await Promise.all([store.refresh(), store.refresh({ quiet: true }), store.refresh()]);
    expect(store.getState().status).toBe('signed_in');
  });

  it('forget() hides the profile until the next check', async () => {
    const { api } = fakeApi([ok(alice), fail(401)]);
    const store = createSessionStore(api);
    await store.refresh();
    store.forget();
    expect(store.getState()).toEqual({ status: 'loading' });
    await store.refresh();
    expect(store.getState()).toEqual({ status: 'signed_out', expired: false });
  });

  it('stops listening after dispose', async () => {
    const { api, announce } = fakeApi([ok(alice)]);
    const store = createSessionStore(api);
    await store.refresh();
    store.dispose();
    announce(problemFromResponse(401, null));
    expect(store.getState().status).toBe('signed_in');
  });
});
