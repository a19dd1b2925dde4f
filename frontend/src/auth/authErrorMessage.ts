// Plain-English words for the codes a failed sign-in brings back as
// `?authError=<code>`: Logto's OAuth error codes passed through by the BFF's
// callback, and the BFF's own codes from api/openapi.yaml.

/** What to tell the user about a failed sign-in. */
export interface AuthErrorMessage {
  title: string;
  detail: string;
}

const TRY_AGAIN = 'Please try again.';

const MESSAGES: Record<string, AuthErrorMessage> = {
  access_denied: { title: 'Sign-in was cancelled.', detail: 'Nothing was changed. You can sign in again whenever you like.' },
  invalid_state: {
    title: 'That sign-in attempt expired.',
    detail: 'Sign-in links work once, for a few minutes, in the tab that started them. Please start again from here.',
  },
  idp_unavailable: { title: 'The sign-in service is temporarily unavailable.', detail: 'Please try again in a moment.' },
  store_unavailable: { title: 'The sign-in service is temporarily unavailable.', detail: 'Please try again in a moment.' },
  temporarily_unavailable: { title: 'The sign-in service is temporarily unavailable.', detail: 'Please try again in a moment.' },
  server_error: { title: 'The sign-in service ran into a problem.', detail: TRY_AGAIN },
  internal_error: { title: 'Something went wrong while signing you in.', detail: TRY_AGAIN },
  login_required: { title: 'Sign-in needs you to confirm who you are.', detail: TRY_AGAIN },
  interaction_required: { title: 'Sign-in needs you to confirm who you are.', detail: TRY_AGAIN },
  consent_required: { title: 'Sign-in needs your consent to continue.', detail: TRY_AGAIN },
  session_expired: { title: 'Your session ended.', detail: 'Please sign in again.' },
};

const REJECTED = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'invalid_scope',
  'invalid_target',
  'unauthorized_client',
  'unsupported_response_type',
  'request_not_supported',
]);

/** A code is only echoed back when it looks like one (no free text from the URL). */
const SAFE_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Words for `code`. Unknown codes get a generic message that names the code if it looks like one. */
export function describeAuthError(code: string): AuthErrorMessage {
  const known = MESSAGES[code];
  if (known) return known;
  const safe = SAFE_CODE.test(code);
  if (REJECTED.has(code)) {
    return {
      title: 'Sign-in could not be completed.',
      detail: `The sign-in service rejected the request (error code: ${code}). If this keeps happening, contact support.`,
    };
  }
  return {
    title: 'Sign-in did not complete.',
    detail: safe ? `${TRY_AGAIN} If this keeps happening, mention the error code ${code}.` : TRY_AGAIN,
  };
}
