// The SPA's API module: the only code that talks to the BFF's /api routes.
export {
  createBffApi,
  proxyPath,
  splitProxyTarget,
  type ApiResult,
  type BffApi,
  type Identity,
  type Me,
  type ProxyAnswer,
  type User,
} from './client';
export { problemFromResponse, type ApiProblem } from './problem';
