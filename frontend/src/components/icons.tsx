// Inline SVG icons (no external requests, nothing for a CSP to block).
// All are decorative: the text next to them carries the meaning.
import type { SVGProps } from 'react';

type IconProps = SVGProps<SVGSVGElement>;

const base = { 'aria-hidden': true, focusable: false, width: 20, height: 20 } as const;

/** The app's mark: a shield with a keyhole. */
export function LogoMark(props: IconProps) {
  return (
    <svg {...base} viewBox="0 0 32 32" {...props}>
      <path
        fill="currentColor"
        d="M16 2 4 6.5v8.7c0 7.2 5 13 12 14.8 7-1.8 12-7.6 12-14.8V6.5L16 2Zm0 9a3.5 3.5 0 0 1 1.6 6.6l1.2 5.4h-5.6l1.2-5.4A3.5 3.5 0 0 1 16 11Z"
      />
    </svg>
  );
}

/** A simplified Discord mark. */
export function DiscordIcon(props: IconProps) {
  return (
    <svg {...base} viewBox="0 0 24 24" {...props}>
      <path
        fill="currentColor"
        d="M19.3 5.3A16.6 16.6 0 0 0 15.2 4l-.5 1a15.4 15.4 0 0 0-5.4 0l-.5-1a16.6 16.6 0 0 0-4.1 1.3C2.1 9.2 1.4 13 1.8 16.7a16.7 16.7 0 0 0 5 2.5l1.1-1.7c-.6-.2-1.2-.5-1.7-.8l.4-.3a11.9 11.9 0 0 0 10.8 0l.4.3c-.5.3-1.1.6-1.7.8l1.1 1.7a16.6 16.6 0 0 0 5-2.5c.5-4.3-.8-8-2.9-11.4ZM8.7 14.5c-1 0-1.8-.9-1.8-2s.8-2 1.8-2 1.8.9 1.8 2-.8 2-1.8 2Zm6.6 0c-1 0-1.8-.9-1.8-2s.8-2 1.8-2 1.8.9 1.8 2-.8 2-1.8 2Z"
      />
    </svg>
  );
}

/** A check mark. */
export function CheckIcon(props: IconProps) {
  return (
    <svg {...base} viewBox="0 0 20 20" {...props}>
      <path fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" strokeLinejoin="round" d="m5 10.5 3.2 3.2L15 7" />
    </svg>
  );
}

/** A warning triangle. */
export function AlertIcon(props: IconProps) {
  return (
    <svg {...base} viewBox="0 0 20 20" {...props}>
      <path fill="currentColor" d="M10 1.8 .8 17.7h18.4L10 1.8Zm-1 5.7h2v5H9v-5Zm0 6.6h2v2H9v-2Z" />
    </svg>
  );
}

/** A close cross. */
export function CloseIcon(props: IconProps) {
  return (
    <svg {...base} viewBox="0 0 20 20" {...props}>
      <path fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" d="m5 5 10 10M15 5 5 15" />
    </svg>
  );
}

/** A padlock. */
export function LockIcon(props: IconProps) {
  return (
    <svg {...base} viewBox="0 0 20 20" {...props}>
      <path
        fill="currentColor"
        d="M10 1.5A4.5 4.5 0 0 0 5.5 6v2H4.5A1.5 1.5 0 0 0 3 9.5v8A1.5 1.5 0 0 0 4.5 19h11a1.5 1.5 0 0 0 1.5-1.5v-8A1.5 1.5 0 0 0 15.5 8h-1V6A4.5 4.5 0 0 0 10 1.5ZM7.5 6a2.5 2.5 0 0 1 5 0v2h-5V6Z"
      />
    </svg>
  );
}

/** A cookie. */
export function CookieIcon(props: IconProps) {
  return (
    <svg {...base} viewBox="0 0 20 20" {...props}>
      <path
        fill="currentColor"
        d="M10 1.5a8.5 8.5 0 1 0 8.4 7.2 2.5 2.5 0 0 1-3-2.9 2.5 2.5 0 0 1-3.2-3.2c-.7-.7-1.4-1.1-2.2-1.1ZM6.5 7.5a1.2 1.2 0 1 1 0 2.4 1.2 1.2 0 0 1 0-2.4Zm5 3.5a1.2 1.2 0 1 1 0 2.4 1.2 1.2 0 0 1 0-2.4Zm-5 2.5a1 1 0 1 1 0 2 1 1 0 0 1 0-2Z"
      />
    </svg>
  );
}

/** Two arrows (a request and its answer). */
export function ExchangeIcon(props: IconProps) {
  return (
    <svg {...base} viewBox="0 0 20 20" {...props}>
      <path
        fill="none"
        stroke="currentColor"
        strokeWidth="2"
        strokeLinecap="round"
        strokeLinejoin="round"
        d="M3 6.5h12.5M12.5 3.5l3 3-3 3M17 13.5H4.5M7.5 10.5l-3 3 3 3"
      />
    </svg>
  );
}
