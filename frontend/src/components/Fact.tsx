import type { ReactNode } from 'react';

/** One labelled value inside a <dl className="facts">. */
export function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="fact">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** The muted placeholder for a value the profile does not have. */
export function NotSet() {
  return <span className="muted">Not set</span>;
}
