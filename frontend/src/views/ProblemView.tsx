import type { ApiProblem } from '../api';
import { AlertIcon } from '../components/icons';

const TITLES: Partial<Record<ApiProblem['kind'], string>> = {
  unavailable: 'Service temporarily unavailable',
  upstream_unavailable: 'The API is not answering',
  network: 'Cannot reach the server',
};

/** Props for ProblemView. */
export interface ProblemViewProps {
  problem: ApiProblem;
  onRetry: () => void;
}

/** A full-page failure (the session check failed for a reason other than 401), with Retry. */
export function ProblemView({ problem, onRetry }: ProblemViewProps) {
  return (
    <section className="card problem" aria-labelledby="page-title">
      <AlertIcon className="problem-icon" width={28} height={28} />
      <h1 id="page-title" tabIndex={-1}>
        {TITLES[problem.kind] ?? 'Something went wrong'}
      </h1>
      <p role="alert">{problem.message}</p>
      <button type="button" className="button button-primary" onClick={onRetry}>
        Retry
      </button>
    </section>
  );
}
