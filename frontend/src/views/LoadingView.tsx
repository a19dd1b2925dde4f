/** Shown while the page asks the BFF who is signed in. */
export function LoadingView({ label = 'Checking your session…' }: { label?: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}
