import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { alice, jsonResponse } from '../test/fixtures';
import { createBffApi, proxyPath, type BffApi } from './client';
import type { ApiProblem } from './problem';

const BASE = 'http://app.test';

let fetchMock: ReturnType<typeof vi.fn<typeof fetch>>;
let api: BffApi;
let signedOut: ApiProblem[];

beforeEach(() => {
  fetchMock = vi.fn<typeof fetch>();
  vi.stubGlobal('fetch', fetchMock);
  api = createBffApi({ baseUrl: BASE });
  signedOut = [];
  api.onSignedOut((problem) => signedOut.push(problem));
});

afterEach(() => {
  vi.unstubAllGlobals();
});

/** The request and init of the n-th fetch call. */
function sent(n = 0): { request: Request; init: RequestInit } {
  const call = fetchMock.mock.calls[n];
  if (!call) throw new Error(`fetch was called ${fetchMock.mock.calls.length} times`);
  const [input, init] = call;
  if (!(input instanceof Request)) throw new Error('expected a Request');
  return { request: input, init: init ?? {} };
}

describe('every request', () => {
  it.each([
    ['getMe', (a: BffApi) => a.getMe(), `${BASE}/api/me`],
    ['callProxy', (a: BffApi) => a.callProxy('demo/hello'), `${BASE}/api/proxy/demo/hello`],
  ])('%s sends X-CSRF: 1, same-origin credentials and no-store', async (_name, call, url) => {
    fetchMock.mockResolvedValue(jsonResponse(200, alice));
    await call(api);
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const { request, init } = sent();
    expect(request.url).toBe(url);
    expect(request.method).toBe('GET');
    const headers = new Headers(init.headers ?? request.headers);
    expect(headers.get('X-CSRF')).toBe('1');
    expect(init.credentials).toBe('same-origin');
    expect(init.cache).toBe('no-store');
  });

  it('keeps the CSRF header even on repeated calls', async () => {
    fetchMock.mockImplementation(async () => jsonResponse(200, alice));
    await api.getMe();
    await api.getMe();
    for (const n of [0, 1]) {
      const { request, init } = sent(n);
      expect(new Headers(init.headers ?? request.headers).get('x-csrf')).toBe('1');
      expect(init.credentials).toBe('same-origin');
    }
  });
});

describe('getMe', () => {
  it('returns the user and session on 200', async () => {
    fetchMock.mockResolvedValue(jsonResponse(200, alice));
    const result = await api.getMe();
    expect(result).toEqual({ ok: true, status: 200, data: alice });
    expect(signedOut).toEqual([]);
  });

  it('turns 401 unauthorized into signed_out and tells listeners', async () => {
    fetchMock.mockResolvedValue(
      jsonResponse(401, { error: 'unauthorized', error_description: 'You are not signed in.' }),
    );
    const result = await api.getMe();
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problem).toMatchObject({ kind: 'signed_out', status: 401, code: 'unauthorized', retryable: false });
    expect(signedOut.map((p) => p.kind)).toEqual(['signed_out']);
  });

  it('turns 401 session_expired into session_expired with its own message', async () => {
    fetchMock.mockResolvedValue(
      jsonResponse(401, { error: 'session_expired', error_description: 'Your session has ended. Sign in again.' }),
    );
    const result = await api.getMe();
    if (result.ok) throw new Error('expected a problem');
    expect(result.problem.kind).toBe('session_expired');
    expect(result.problem.message).toBe('Your session ended. Please sign in again.');
    expect(signedOut.map((p) => p.kind)).toEqual(['session_expired']);
  });

  it('treats a 401 without the error shape as signed out', async () => {
    fetchMock.mockResolvedValue(new Response('nope', { status: 401 }));
    const result = await api.getMe();
    if (result.ok) throw new Error('expected a problem');
    expect(result.problem).toMatchObject({ kind: 'signed_out', code: null });
    expect(signedOut).toHaveLength(1);
  });

  it('turns 503 into a retryable "temporarily unavailable"', async () => {
    fetchMock.mockResolvedValue(
      jsonResponse(503, { error: 'store_unavailable', error_description: 'The session store is unavailable.' }),
    );
    const result = await api.getMe();
    if (result.ok) throw new Error('expected a problem');
    expect(result.problem).toMatchObject({ kind: 'unavailable', status: 503, code: 'store_unavailable', retryable: true });
    expect(result.problem.message).toMatch(/temporarily unavailable/i);
    expect(result.problem.message).toMatch(/retry/i);
    expect(signedOut).toEqual([]);
  });

  it('turns 503 with an HTML body (a proxy in front) into the same problem', async () => {
    fetchMock.mockResolvedValue(new Response('<h1>503</h1>', { status: 503, headers: { 'Content-Type': 'text/html' } }));
    const result = await api.getMe();
    if (result.ok) throw new Error('expected a problem');
    expect(result.problem).toMatchObject({ kind: 'unavailable', code: null, retryable: true });
  });

  it('shows the server sentence for codes without words of their own', async () => {
    fetchMock.mockResolvedValue(
      jsonResponse(403, { error: 'csrf_required', error_description: 'Requests to /api must carry the header X-CSRF: 1.' }),
    );
    const result = await api.getMe();
    if (result.ok) throw new Error('expected a problem');
    expect(result.problem).toMatchObject({ kind: 'unexpected', status: 403, code: 'csrf_required' });
    expect(result.problem.message).toBe('Requests to /api must carry the header X-CSRF: 1.');
  });

  it('does not show text from a body that lacks the error shape', async () => {
    fetchMock.mockResolvedValue(jsonResponse(500, { message: 'stack trace here' }));
    const result = await api.getMe();
    if (result.ok) throw new Error('expected a problem');
    expect(result.problem).toMatchObject({ kind: 'unexpected', code: null, retryable: true });
    expect(result.problem.message).toBe('Something went wrong (HTTP 500). Please retry.');
  });

  it('reports a network failure without throwing', async () => {
    fetchMock.mockRejectedValue(new TypeError('Failed to fetch'));
    const result = await api.getMe();
    if (result.ok) throw new Error('expected a problem');
    expect(result.problem).toMatchObject({ kind: 'network', status: null, retryable: true });
  });

  it('rejects a 200 that is not the contract shape', async () => {
    fetchMock.mockResolvedValue(new Response('<html>index</html>', { status: 200, headers: { 'Content-Type': 'text/html' } }));
    const result = await api.getMe();
    if (result.ok) throw new Error('expected a problem');
    expect(result.problem).toMatchObject({ kind: 'unexpected', status: 200 });
  });

  it('stops telling a listener after it unsubscribes', async () => {
    const seen: string[] = [];
    const stop = api.onSignedOut((p) => seen.push(p.kind));
    stop();
    fetchMock.mockResolvedValue(jsonResponse(401, { error: 'unauthorized', error_description: 'x' }));
    await api.getMe();
    expect(seen).toEqual([]);
    expect(signedOut).toHaveLength(1);
  });
});

describe('callProxy', () => {
  it('returns the upstream JSON and status', async () => {
    fetchMock.mockResolvedValue(jsonResponse(200, { hello: 'world', scope: 'read:demo' }));
    const result = await api.callProxy('demo/hello');
    expect(result).toEqual({
      ok: true,
      status: 200,
      data: {
        path: '/api/proxy/demo/hello',
        status: 200,
        statusText: '',
        contentType: 'application/json; charset=utf-8',
        body: { kind: 'json', value: { hello: 'world', scope: 'read:demo' } },
      },
    });
  });

  it('shows an upstream error response as an answer, not a problem', async () => {
    fetchMock.mockResolvedValue(new Response('teapot', { status: 418, headers: { 'Content-Type': 'text/plain' } }));
    const result = await api.callProxy('demo/hello');
    if (!result.ok) throw new Error('expected an answer');
    expect(result.data).toMatchObject({ status: 418, body: { kind: 'text', value: 'teapot' } });
    expect(signedOut).toEqual([]);
  });

  it('reports a missing route (404 not_found) as not_found', async () => {
    fetchMock.mockResolvedValue(jsonResponse(404, { error: 'not_found', error_description: 'No such API route.' }));
    const result = await api.callProxy('nope/hello');
    if (result.ok) throw new Error('expected a problem');
    expect(result.problem).toMatchObject({ kind: 'not_found', status: 404, code: 'not_found' });
  });

  it('signs the page out on 401 from the BFF', async () => {
    fetchMock.mockResolvedValue(jsonResponse(401, { error: 'session_expired', error_description: 'ended' }));
    const result = await api.callProxy('demo/hello');
    if (result.ok) throw new Error('expected a problem');
    expect(result.problem.kind).toBe('session_expired');
    expect(signedOut.map((p) => p.kind)).toEqual(['session_expired']);
  });

  it('reports 502 upstream_unavailable and 503 as retryable problems', async () => {
    fetchMock.mockResolvedValueOnce(
      jsonResponse(502, { error: 'upstream_unavailable', error_description: 'The upstream API could not be reached.' }),
    );
    fetchMock.mockResolvedValueOnce(
      jsonResponse(503, { error: 'idp_unavailable', error_description: 'The identity provider is unavailable.' }),
    );
    const first = await api.callProxy('demo/hello');
    const second = await api.callProxy('demo/hello');
    if (first.ok || second.ok) throw new Error('expected problems');
    expect(first.problem).toMatchObject({ kind: 'upstream_unavailable', retryable: true });
    expect(second.problem).toMatchObject({ kind: 'unavailable', retryable: true });
  });

  it('treats any 503 on the way as "temporarily unavailable"', async () => {
    fetchMock.mockResolvedValue(new Response('<h1>Service Unavailable</h1>', { status: 503 }));
    const result = await api.callProxy('demo/hello');
    if (result.ok) throw new Error('expected a problem');
    expect(result.problem).toMatchObject({ kind: 'unavailable', code: null, retryable: true });
  });

  it('keeps slashes in the path and encodes each segment', async () => {
    fetchMock.mockResolvedValue(new Response(null, { status: 204 }));
    const result = await api.callProxy('/demo/a b/c?d');
    expect(sent().request.url).toBe(`${BASE}/api/proxy/demo/a%20b/c%3Fd`);
    if (!result.ok) throw new Error('expected an answer');
    expect(result.data.body).toEqual({ kind: 'empty' });
    expect(proxyPath('demo/hello')).toBe('/api/proxy/demo/hello');
  });
});
