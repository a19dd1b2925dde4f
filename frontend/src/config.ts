// Build-time settings (Vite env vars, fixed into the bundle by `vite build`).

/** The proxied API the API view calls: `<route>/<path>` under /api/proxy. */
export const API_TARGET: string = (import.meta.env.VITE_API_ROUTE ?? '').trim().replace(/^\/+/, '') || 'demo/hello';
