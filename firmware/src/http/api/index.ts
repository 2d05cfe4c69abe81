// The REST API (contract.ts): createApi() gives the routing rows for
// createHttpServer({ extraRoutes }); the app implements ApiHost.
export { API_PREFIX, BOOTED_PATH, createApi, createApiRoutes, type Api, type ApiOptions } from './routes.js';
export { ApiHostError, type ApiHost, type Awaitable, type EventsQuery, type NodeFilter, type PowerAction } from './host.js';
export { MAX_BODY_BYTES } from './body.js';
export { SESSION_COOKIE } from './guard.js';
