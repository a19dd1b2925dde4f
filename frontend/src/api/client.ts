// The SPA's one API client. Every request to the BFF goes through
// `bffFetch`, which adds the CSRF header and same-origin credentials; every
// answer goes through `problemFromResponse`, and every 401 is announced to
// `onSignedOut` listeners, so the whole app turns into the signed-out view
// no matter which call noticed it.
//
// Types come from api/openapi.yaml (src/api/schema.d.ts, `npm run gen`).
import createClient from 'openapi-fetch';
import {
  isSignedOut,
  networkProblem,
  parseErrorBody,
  problemFromResponse,
  unreadableProblem,
  type ApiProblem,
} from './problem';
import type { components, paths } from './schema';

/** GET /api/me: the signed-in user and session facts (never a token). */
export type Me = components['schemas']['Me'];
/** ID-token claims merged with userinfo, in Logto's shapes. */
export type User = components['schemas']['User'];
/** A linked social identity, e.g. `identities.discord`. */
export type Identity = components['schemas']['Identity'];

/** Either the data, or a problem ready to render. Never throws. */
export type ApiResult<T> = { ok: true; status: number; data: T } | { ok: false; problem: ApiProblem };

/** The CSRF header the BFF requires on every /api request. */
const CSRF_HEADER = 'X-CSRF';

/**
 * The contract's paths without the `X-CSRF` header parameter: bffFetch sets
 * it on every request, so no call passes it (one place, not two).
 */
type WithoutCsrf<T> = {
  [P in keyof T]: {
    [M in keyof T[P]]: T[P][M] extends { parameters: { header: infer H } }
      ? Omit<T[P][M], 'parameters'> & {
          parameters: Omit<T[P][M]['parameters'], 'header'> & { header?: Omit<H, typeof CSRF_HEADER> };
        }
      : T[P][M];
  };
};

/**
 * Options every request is sent with: the session cookie (same origin only)
 * and no HTTP caching, so a signed-out browser never replays a cached
 * profile (for example after the back button).
 */
const REQUEST_INIT = { credentials: 'same-origin', cache: 'no-store' } as const satisfies RequestInit;

/**
 * The one fetch wrapper: sends `request` with `X-CSRF: 1` and
 * REQUEST_INIT. Every request to the BFF passes through here.
 */
function bffFetch(request: Request): Promise<Response> {
  const headers = new Headers(request.headers);
  headers.set(CSRF_HEADER, '1');
  return fetch(request, { ...REQUEST_INIT, headers });
}

/** An upstream's answer relayed by /api/proxy, ready to show. */
export interface ProxyAnswer {
  /** The path that was called, e.g. `/api/proxy/demo/hello`. */
  path: string;
  status: number;
  statusText: string;
  contentType: string | null;
  body: { kind: 'json'; value: unknown } | { kind: 'text'; value: string } | { kind: 'empty' };
}

/** What the views need from the BFF. */
export interface BffApi {
  /** GET /api/me. */
  getMe(): Promise<ApiResult<Me>>;
  /**
   * GET /api/proxy/<target>, where target is `<route>/<path>` (e.g.
   * `demo/hello`). Any upstream answer — even a 4xx/5xx — is `ok: true`;
   * only the BFF's own errors (the contract's error shape) and 503s are
   * problems.
   */
  callProxy(target: string): Promise<ApiResult<ProxyAnswer>>;
  /** Calls `listener` whenever any request learns the browser is signed out. Returns an unsubscribe function. */
  onSignedOut(listener: (problem: ApiProblem) => void): () => void;
}

/** Splits `<route>/<path>` into its parts; leading slashes are ignored. */
export function splitProxyTarget(target: string): { route: string; path: string } {
  const [route = '', ...rest] = target.replace(/^\/+/, '').split('/');
  return { route, path: rest.join('/') };
}

/** The same-origin path for a proxy target, each segment percent-encoded. */
export function proxyPath(target: string): string {
  const { route, path } = splitProxyTarget(target);
  return `/api/proxy/${encodeURIComponent(route)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** Creates the client. `baseUrl` defaults to this page's origin. */
export function createBffApi(options: { baseUrl?: string } = {}): BffApi {
  const baseUrl = (options.baseUrl ?? globalThis.location?.origin ?? '').replace(/\/+$/, '');
  const client = createClient<WithoutCsrf<paths>>({ baseUrl, fetch: bffFetch });
  const listeners = new Set<(problem: ApiProblem) => void>();

  function fail<T>(problem: ApiProblem): ApiResult<T> {
    if (isSignedOut(problem)) {
      for (const listener of [...listeners]) listener(problem);
    }
    return { ok: false, problem };
  }

  return {
    async getMe() {
      let answer;
      try {
        answer = await client.GET('/api/me', { parseAs: 'text' });
      } catch {
        return fail(networkProblem());
      }
      const { data, error, response } = answer;
      if (!response.ok) return fail(problemFromResponse(response.status, error));
      const me = parseJson(data ?? '');
      return isMe(me) ? { ok: true, status: response.status, data: me } : fail(unreadableProblem(response.status));
    },

    async callProxy(target) {
      const path = proxyPath(target);
      let answer;
      try {
        answer = await client.GET('/api/proxy/{route}/{path}', {
          params: { path: splitProxyTarget(target) },
          parseAs: 'text',
          // The default serializer would encode the `/` inside `path`.
          pathSerializer: () => `${baseUrl}${path}`,
        });
      } catch {
        return fail(networkProblem());
      }
      const { data, error, response } = answer;
      // The BFF's own errors carry the contract's shape; a 503 from anything
      // on the way means "temporarily unavailable, retry" whatever its body.
      if (!response.ok && (response.status === 503 || parseErrorBody(error) !== null)) {
        return fail(problemFromResponse(response.status, error));
      }
      const contentType = response.headers.get('Content-Type');
      return {
        ok: true,
        status: response.status,
        data: {
          path,
          status: response.status,
          statusText: response.statusText,
          contentType,
          body: response.ok ? bodyFromText(data ?? '', contentType) : bodyFromParsed(error),
        },
      };
    },

    onSignedOut(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function bodyFromText(text: string, contentType: string | null): ProxyAnswer['body'] {
  if (text === '') return { kind: 'empty' };
  if (contentType !== null && /[/+]json\b/i.test(contentType)) {
    const value = parseJson(text);
    if (value !== undefined) return { kind: 'json', value };
  }
  return { kind: 'text', value: text };
}

// openapi-fetch has already read a non-2xx body: JSON when it parsed, else text.
function bodyFromParsed(error: unknown): ProxyAnswer['body'] {
  if (error === undefined || error === '') return { kind: 'empty' };
  return typeof error === 'string' ? { kind: 'text', value: error } : { kind: 'json', value: error };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// The minimum the views rely on; everything else is optional in the contract.
function isMe(value: unknown): value is Me {
  if (!isRecord(value) || !isRecord(value.user) || !isRecord(value.session)) return false;
  return (
    typeof value.user.sub === 'string' &&
    typeof value.session.authenticatedAt === 'string' &&
    typeof value.session.expiresAt === 'string'
  );
}
