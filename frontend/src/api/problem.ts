// The one place where an HTTP failure becomes something the UI can show.
//
// The BFF answers every JSON error with {error, error_description}
// (components.schemas.Error in api/openapi.yaml). We never show raw server
// text for the cases we understand; we fall back to the server's
// error_description (a sentence for people, never a token) only for codes
// we have no better words for.
import type { components } from './schema';

/** The contract's error body. */
export type ErrorBody = components['schemas']['Error'];
/** Every machine-readable error code the contract defines. */
export type ErrorCode = ErrorBody['error'];

// Every code of the contract, spelled out so the type check fails when the
// spec's enum changes and this list does not.
const CODES: Record<ErrorCode, true> = {
  unauthorized: true,
  session_expired: true,
  csrf_required: true,
  forbidden_origin: true,
  invalid_request: true,
  invalid_state: true,
  idp_unavailable: true,
  store_unavailable: true,
  not_found: true,
  upstream_unavailable: true,
  payload_too_large: true,
  access_denied: true,
  internal_error: true,
};
const ERROR_CODES: ReadonlySet<string> = new Set(Object.keys(CODES));

/** What went wrong, in the terms the UI branches on. */
export type ProblemKind =
  | 'signed_out' // 401: no session
  | 'session_expired' // 401 session_expired: Logto ended the session
  | 'unavailable' // 503: the BFF's session store or Logto is down; retry
  | 'upstream_unavailable' // 502: the proxied API could not be reached; retry
  | 'not_found' // 404 not_found: no such proxied route
  | 'network' // no HTTP answer at all
  | 'unexpected'; // anything else

/** A failure ready to render: `message` is always a plain-English sentence. */
export interface ApiProblem {
  kind: ProblemKind;
  /** HTTP status, or null when the request never got an answer. */
  status: number | null;
  /** The body's `error` code when the body had the contract's shape. */
  code: ErrorCode | null;
  message: string;
  /** The server's own sentence (`error_description`), when the body had the contract's shape. */
  detail: string | null;
  /** Whether trying the same request again later can help. */
  retryable: boolean;
}

/** Reads the contract's error shape; null for anything else (HTML, text, other JSON). */
export function parseErrorBody(body: unknown): ErrorBody | null {
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body) as unknown;
    } catch {
      return null;
    }
  }
  if (typeof body !== 'object' || body === null) return null;
  const { error, error_description: description } = body as Record<string, unknown>;
  if (typeof error !== 'string' || !ERROR_CODES.has(error)) return null;
  return {
    error: error as ErrorCode,
    error_description: typeof description === 'string' ? description : '',
  };
}

/** Turns a non-2xx answer into a problem. */
export function problemFromResponse(status: number, body: unknown): ApiProblem {
  const parsed = parseErrorBody(body);
  const code = parsed?.error ?? null;
  const detail = parsed?.error_description.trim() || null;
  const base = { status, code, detail };
  if (status === 401) {
    return code === 'session_expired'
      ? { ...base, kind: 'session_expired', retryable: false, message: 'Your session ended. Please sign in again.' }
      : { ...base, kind: 'signed_out', retryable: false, message: 'You are signed out.' };
  }
  if (status === 503) {
    return {
      ...base,
      kind: 'unavailable',
      retryable: true,
      message: 'The service is temporarily unavailable. Please retry in a moment.',
    };
  }
  if (status === 502 && code === 'upstream_unavailable') {
    return {
      ...base,
      kind: 'upstream_unavailable',
      retryable: true,
      message: 'The API behind this app could not be reached. Please retry in a moment.',
    };
  }
  if (status === 404 && code === 'not_found') {
    return { ...base, kind: 'not_found', retryable: false, message: 'There is nothing at this address.' };
  }
  return {
    ...base,
    kind: 'unexpected',
    retryable: status >= 500,
    message: detail ?? `Something went wrong (HTTP ${status}). Please retry.`,
  };
}

/** The problem for a request that got no HTTP answer (offline, DNS failure, connection reset). */
export function networkProblem(): ApiProblem {
  return {
    kind: 'network',
    status: null,
    code: null,
    detail: null,
    retryable: true,
    message: 'Could not reach the server. Check your connection and retry.',
  };
}

/** The problem for a 2xx answer whose body is not what the contract promises. */
export function unreadableProblem(status: number): ApiProblem {
  return {
    kind: 'unexpected',
    status,
    code: null,
    detail: null,
    retryable: true,
    message: 'The server sent an answer this page could not read. Please retry.',
  };
}

/** True for the problems that mean "this browser has no session any more". */
export function isSignedOut(problem: ApiProblem): boolean {
  return problem.kind === 'signed_out' || problem.kind === 'session_expired';
}
