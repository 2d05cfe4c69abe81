// Authentication for the REST API and the console: see service.ts.
export {
  AuthError,
  AuthService,
  AUTH_STORE_NAME,
  MAX_API_TOKENS,
  type Access,
  type AuthEventInput,
  type AuthServiceOptions,
  type LoggedIn,
} from './service.js';
export { DEFAULT_SCRYPT_PARAMS, MIN_PASSWORD_LENGTH, type ScryptParams } from './password.js';
export { DEFAULT_SESSION_LIMITS, type Session, type SessionLimits } from './sessions.js';
export { DEFAULT_THROTTLE, type ThrottleOptions } from './throttle.js';
