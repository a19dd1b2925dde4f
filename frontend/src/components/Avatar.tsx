import { useEffect, useState } from 'react';
import { initials } from '../format';

/** Props for Avatar. */
export interface AvatarProps {
  /** Image URL, or null for initials. */
  src: string | null;
  /** Whose avatar (used for the initials and the colour). */
  name: string;
  size?: 'sm' | 'lg';
}

const TONES = 6;

function tone(name: string): number {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0;
  return hash % TONES;
}

/**
 * A round avatar: the image when it loads, the person's initials otherwise
 * (no image, or it failed — e.g. offline or blocked). Decorative: the name
 * is always shown next to it.
 */
export function Avatar({ src, name, size = 'sm' }: AvatarProps) {
  const [failed, setFailed] = useState(false);
  useEffect(() => setFailed(false), [src]);
  const className = `avatar avatar-${size} avatar-tone-${tone(name)}`;
  if (src && !failed) {
    return (
      <img
        className={className}
        src={src}
        alt=""
        referrerPolicy="no-referrer"
        decoding="async"
        onError={() => setFailed(true)}
      />
    );
  }
  return (
    <span className={className} aria-hidden="true" data-testid="avatar-initials">
      {initials(name)}
    </span>
  );
}
