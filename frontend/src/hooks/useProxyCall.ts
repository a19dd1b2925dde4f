import { useCallback, useEffect, useRef, useState } from 'react';
import type { ApiProblem, BffApi, ProxyAnswer } from '../api';

/** The API view's request, from idle to an answer or a problem. */
export type ProxyCallState =
  | { status: 'idle' }
  | { status: 'loading'; previous: ProxyAnswer | null }
  | { status: 'done'; answer: ProxyAnswer }
  | { status: 'failed'; problem: ApiProblem };

/**
 * Calls GET /api/proxy/<target> on demand. Only the latest call's result
 * is kept; a result arriving after unmount is dropped. When `owner` (the
 * signed-in user's id, or null) changes, the state goes back to idle, so
 * one user's answer is never shown to the next.
 */
export function useProxyCall(
  api: Pick<BffApi, 'callProxy'>,
  target: string,
  owner: string | null,
): [ProxyCallState, () => void] {
  const [state, setState] = useState<ProxyCallState>({ status: 'idle' });
  const latest = useRef(0);

  useEffect(() => {
    latest.current++; // drop any call still in flight for the previous owner
    setState({ status: 'idle' });
  }, [owner]);
  useEffect(
    () => () => {
      latest.current++;
    },
    [],
  );

  const call = useCallback(() => {
    const id = ++latest.current;
    setState((current) => ({
      status: 'loading',
      previous: current.status === 'done' ? current.answer : current.status === 'loading' ? current.previous : null,
    }));
    void api.callProxy(target).then((result) => {
      if (id !== latest.current) return;
      setState(result.ok ? { status: 'done', answer: result.data } : { status: 'failed', problem: result.problem });
    });
  }, [api, target]);

  return [state, call];
}
