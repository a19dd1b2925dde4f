import { proxyPath, splitProxyTarget, type ProxyAnswer } from '../api';
import { AlertIcon } from '../components/icons';
import { formatStatus } from '../format';
import type { ProxyCallState } from '../hooks/useProxyCall';

/** Props for ApiView. */
export interface ApiViewProps {
  /** `<route>/<path>` under /api/proxy (VITE_API_ROUTE). */
  target: string;
  state: ProxyCallState;
  onCall: () => void;
}

function statusTone(status: number): string {
  if (status < 300) return 'badge-success';
  if (status < 500) return 'badge-warning';
  return 'badge-danger';
}

function Body({ body }: { body: ProxyAnswer['body'] }) {
  if (body.kind === 'empty') return <p className="muted">The response has no body.</p>;
  const text = body.kind === 'json' ? JSON.stringify(body.value, null, 2) : body.value;
  return (
    // Focusable so keyboard users can scroll a long response.
    <pre className="code-block" tabIndex={0} aria-label="Response body">
      <code>{text}</code>
    </pre>
  );
}

function Answer({ answer, stale }: { answer: ProxyAnswer; stale: boolean }) {
  return (
    <div className={stale ? 'response is-stale' : 'response'} data-testid="api-response">
      <div className="response-meta">
        <span className={`badge ${statusTone(answer.status)}`} data-testid="api-status">
          {formatStatus(answer.status, answer.statusText)}
        </span>
        {answer.contentType && <code className="muted">{answer.contentType}</code>}
      </div>
      <Body body={answer.body} />
    </div>
  );
}

function Problem({ state, target }: { state: Extract<ProxyCallState, { status: 'failed' }>; target: string }) {
  const { problem } = state;
  if (problem.kind === 'not_found') {
    // The BFF answers 404 not_found for a route it does not know; an
    // upstream may use the same words for its own paths, so quote it.
    const { route } = splitProxyTarget(target);
    return (
      <div className="notice notice-info" data-testid="api-not-configured">
        <p>
          <strong>Nothing was found at {proxyPath(target)}.</strong>
          {problem.detail && <> The server said: “{problem.detail}”</>}
        </p>
        <p>
          Most likely no API route named “{route}” is configured on this server. An operator adds routes with{' '}
          <code>BFF_API_ROUTES</code>; under <code>bff dev</code> the route <code>demo</code> is built in. This page
          calls <code>{target}</code>, set at build time with <code>VITE_API_ROUTE</code>.
        </p>
      </div>
    );
  }
  return (
    <div className="notice notice-error" role="alert">
      <AlertIcon />
      <p>{problem.message}</p>
    </div>
  );
}

/** Calls a proxied API through the BFF and shows the status and body it answered. */
export function ApiView({ target, state, onCall }: ApiViewProps) {
  const loading = state.status === 'loading';
  const called = state.status !== 'idle';
  return (
    <section className="card api" aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>
        Call an API through the BFF
      </h1>
      <p className="lede">
        The page sends a same-origin request with its cookie and the <code>X-CSRF: 1</code> header. The BFF adds the
        access token for the API and forwards it; the token never reaches your browser.
      </p>

      <div className="request-line">
        <span className="method">GET</span>
        <code className="request-path">{proxyPath(target)}</code>
        <button type="button" className="button button-primary" onClick={onCall} disabled={loading} aria-busy={loading}>
          {loading ? 'Sending…' : called ? 'Send again' : 'Send request'}
        </button>
      </div>

      <div className="api-result" aria-live="polite" aria-busy={loading}>
        {state.status === 'idle' && <p className="muted">Press “Send request” to call the API.</p>}
        {state.status === 'loading' &&
          (state.previous ? (
            <Answer answer={state.previous} stale />
          ) : (
            <p className="loading-inline">
              <span className="spinner" aria-hidden="true" /> Calling the API…
            </p>
          ))}
        {state.status === 'done' && <Answer answer={state.answer} stale={false} />}
        {state.status === 'failed' && <Problem state={state} target={target} />}
      </div>
    </section>
  );
}
