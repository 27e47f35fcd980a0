import type { RequestIds } from './http-replies'

/**
 * Graph's error responses ("Microsoft Graph error responses and resource types"): one `error` object with
 * `code`, `message` and `innerError` carrying the date and request ids. Codes below are the ones Graph
 * returns for directory (users/groups) endpoints.
 */

export interface GraphErrorBody {
  error: {
    code: string
    message: string
    innerError: { date: string; 'request-id': string; 'client-request-id': string }
  }
}

export interface GraphError {
  status: number
  code: string
  message: string
  headers?: Record<string, string>
}

export function graphErrorBody(error: GraphError, ids: RequestIds, now = new Date()): GraphErrorBody {
  return {
    error: {
      code: error.code,
      message: error.message,
      innerError: {
        // Graph prints the date without fractional seconds or zone designator.
        date: now.toISOString().slice(0, 19),
        'request-id': ids.requestId,
        'client-request-id': ids.clientRequestId,
      },
    },
  }
}

const GRAPH_WWW_AUTHENTICATE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", ' +
  'client_id="00000003-0000-0000-c000-000000000000"'

export const graphErrors = {
  tokenMissing: (): GraphError => ({
    status: 401,
    code: 'InvalidAuthenticationToken',
    message: 'Access token is empty.',
    headers: { 'www-authenticate': GRAPH_WWW_AUTHENTICATE },
  }),
  tokenExpired: (): GraphError => ({
    status: 401,
    code: 'InvalidAuthenticationToken',
    message: 'Lifetime validation failed, the token is expired.',
    headers: { 'www-authenticate': GRAPH_WWW_AUTHENTICATE },
  }),
  tokenInvalid: (): GraphError => ({
    status: 401,
    code: 'InvalidAuthenticationToken',
    message: 'Access token validation failure. Invalid audience.',
    headers: { 'www-authenticate': GRAPH_WWW_AUTHENTICATE },
  }),
  forbidden: (): GraphError => ({
    status: 403,
    code: 'Authorization_RequestDenied',
    message: 'Insufficient privileges to complete the operation.',
  }),
  throttled: (status: 429 | 503, retryAfterSeconds: number): GraphError =>
    status === 429
      ? {
          status,
          code: 'TooManyRequests',
          message:
            'Too many requests from Identifier:fake-tenant under category:throttle.aad.ags.directory. ' +
            'Please try again later.',
          headers: { 'retry-after': String(retryAfterSeconds) },
        }
      : {
          status,
          code: 'ServiceUnavailable',
          message: 'The service is temporarily unavailable. Please try again later.',
          headers: { 'retry-after': String(retryAfterSeconds) },
        },
  /**
   * An expired delta token. The delta overview's "Synchronization reset" section says 410 Gone with a
   * Location header naming the initial query; the error reference lists `syncStateNotFound` ("The delta
   * token is expired and data must be synchronized again") and `resyncRequired` ("The delta token is no
   * longer valid, and the app must reset the sync state").
   */
  deltaTokenExpired: (code: 'syncStateNotFound' | 'resyncRequired', restartUrl: string): GraphError => ({
    status: 410,
    code,
    message:
      code === 'syncStateNotFound'
        ? 'The sync state generation is not found. The delta token is expired and data must be synchronized again.'
        : 'Resync is required: the delta token is no longer valid and the sync state must be reset.',
    headers: { location: restartUrl },
  }),
  /** A state token this service did not issue (tampered, truncated, or from another instance). */
  badStateToken: (): GraphError => ({
    status: 400,
    code: 'Directory_ExpiredPageToken',
    message: 'The specified page token value has expired and can no longer be included in your request.',
  }),
  badSelect: (property: string, type: string): GraphError => ({
    status: 400,
    code: 'BadRequest',
    message: `Parsing OData Select and Expand failed: Could not find a property named '${property}' on type '${type}'.`,
  }),
  unsupportedQuery: (option: string): GraphError => ({
    status: 400,
    code: 'Request_UnsupportedQuery',
    message: `Unsupported query option '${option}' for a delta query.`,
  }),
  segmentNotFound: (segment: string): GraphError => ({
    status: 400,
    code: 'BadRequest',
    message: `Resource not found for the segment '${segment}'.`,
  }),
  methodNotAllowed: (method: string): GraphError => ({
    status: 405,
    code: 'Request_BadRequest',
    message: `The HTTP method '${method}' is not allowed for the requested resource.`,
  }),
}
