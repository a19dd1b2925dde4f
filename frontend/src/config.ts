// Build-time settings (Vite env vars, fixed into the bundle by `vite build`).

/** What the API view calls when VITE_API_ROUTE is unset: bff dev's demo API. */
export const DEFAULT_API_TARGET = 'demo/hello';

/**
 * The API view's target from VITE_API_ROUTE: `<route>/<path>` under
 * /api/proxy. Unset means DEFAULT_API_TARGET; set but empty means the server
 * has no API route for the view, which is then hidden (null).
 */
export function apiTargetFrom(raw: string | undefined): string | null {
  if (raw === undefined) return DEFAULT_API_TARGET;
  const target = raw.trim().replace(/^\/+/, '');
  return target === '' ? null : target;
}

/** The proxied API the API view calls, or null when there is none. */
export const API_TARGET: string | null = apiTargetFrom(import.meta.env.VITE_API_ROUTE);
