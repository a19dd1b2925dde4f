// The SPA's API module: the only code that talks to the BFF's /api routes.
export {
  bffFetch,
  createBffApi,
  proxyPath,
  splitProxyTarget,
  CSRF_HEADER,
  REQUEST_INIT,
  type ApiResult,
  type BffApi,
  type Identity,
  type Me,
  type ProxyAnswer,
  type User,
} from './client';
export { isSignedOut, parseErrorBody, problemFromResponse, type ApiProblem, type ProblemKind } from './problem';
