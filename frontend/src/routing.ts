// Client-side navigation between the two views, in the URL hash (#/ and
// #/api) so any static server can serve the app and no route can collide
// with the BFF's /api and /auth paths.
import { useEffect, useState } from 'react';

/** The views of the signed-in app. */
export type Route = 'profile' | 'api';

const HREFS: Record<Route, string> = { profile: '#/', api: '#/api' };

/** The view for a location hash; anything unknown is the profile. */
export function routeFromHash(hash: string): Route {
  return hash === '#/api' || hash.startsWith('#/api/') || hash.startsWith('#/api?') ? 'api' : 'profile';
}

/** The link target for `route`. */
export function hrefFor(route: Route): string {
  return HREFS[route];
}

/** The current view; re-renders on hash changes (links, back/forward). */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => routeFromHash(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(routeFromHash(window.location.hash));
    window.addEventListener('hashchange', update);
    update();
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
