import { randomUUID } from 'node:crypto'

/**
 * Error responses of the Microsoft identity platform token endpoint, in the shape documented under
 * "Microsoft Entra authentication and authorization error codes": an OAuth `error`, an
 * `error_description` starting with the AADSTS code and ending with trace/correlation/timestamp lines,
 * and `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`.
 */

export interface AadError {
  status: number
  error: string
  code: number
  description: string
}

export interface AadErrorBody {
  error: string
  error_description: string
  error_codes: number[]
  timestamp: string
  trace_id: string
  correlation_id: string
  error_uri: string
}

export function aadErrorBody(e: AadError, correlationId: string, authorityHost: string): AadErrorBody {
  const traceId = randomUUID()
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z')
  return {
    error: e.error,
    error_description:
      `AADSTS${e.code}: ${e.description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}` +
      `\r\nTimestamp: ${timestamp}`,
    error_codes: [e.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${authorityHost}/error?code=${e.code}`,
  }
}

export const aadErrors = {
  tenantNotFound: (tenant: string): AadError => ({
    status: 400,
    error: 'invalid_request',
    code: 90002,
    description:
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into ` +
      'the correct cloud. Check with your subscription administrator, this may happen if there are no active ' +
      'subscriptions for the tenant.',
  }),
  missingParameter: (name: string): AadError => ({
    status: 400,
    error: 'invalid_request',
    code: 900144,
    description: `The request body must contain the following parameter: '${name}'.`,
  }),
  unsupportedGrantType: (grantType: string): AadError => ({
    status: 400,
    error: 'unsupported_grant_type',
    code: 70003,
    description: `The app requested an unsupported grant type '${grantType}'.`,
  }),
  postOnly: (method: string): AadError => ({
    status: 400,
    error: 'invalid_request',
    code: 900561,
    description: `The endpoint only accepts POST, OPTIONS requests. Received a ${method} request.`,
  }),
  unknownClient: (clientId: string, tenant: string): AadError => ({
    status: 400,
    error: 'unauthorized_client',
    code: 700016,
    description:
      `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen ` +
      'if the application has not been installed by the administrator of the tenant or consented to by any ' +
      'user in the tenant. You may have sent your authentication request to the wrong tenant.',
  }),
  missingCredential: (): AadError => ({
    status: 401,
    error: 'invalid_client',
    code: 7000218,
    description:
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
  }),
  invalidSecret: (clientId: string): AadError => ({
    status: 401,
    error: 'invalid_client',
    code: 7000215,
    description:
      'Invalid client secret provided. Ensure the secret being sent in the request is the client secret ' +
      `value, not the client secret ID, for a secret added to app '${clientId}'.`,
  }),
  expiredSecret: (clientId: string): AadError => ({
    status: 401,
    error: 'invalid_client',
    code: 7000222,
    description:
      `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create ` +
      'new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for ' +
      'added security: https://aka.ms/certCreds.',
  }),
  /** A client assertion that is not a JWT (not three base64url parts of JSON), or has an unusable header. */
  invalidJwt: (detail: string): AadError => ({
    status: 400,
    error: 'invalid_request',
    code: 50027,
    description: `JWT token is invalid or malformed. ${detail}`,
  }),
  /** No certificate registered on the app has the thumbprint in the assertion's x5t / x5t#S256. */
  assertionKeyNotFound: (clientId: string, thumbprint: string | null): AadError => ({
    status: 401,
    error: 'invalid_client',
    code: 700027,
    description:
      'The certificate with identifier used to sign the client assertion is not registered on application. ' +
      '[Reason - The key was not found., ' +
      (thumbprint ? `Thumbprint of key used by client: '${thumbprint}', ` : '') +
      `Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'. ` +
      'Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the ' +
      'corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http ' +
      `to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/${clientId}']`,
  }),
  /** The thumbprint names a registered certificate, but its public key does not verify the signature. */
  assertionBadSignature: (): AadError => ({
    status: 401,
    error: 'invalid_client',
    code: 700027,
    description: 'Client assertion failed signature validation.',
  }),
  /** nbf in the future or exp in the past (beyond the clock skew allowed). */
  assertionTimeRange: (now: number, nbf: number, exp: number): AadError => ({
    status: 401,
    error: 'invalid_client',
    code: 700024,
    description:
      `Client assertion is not within its valid time range. Current time: ${isoSeconds(now)}, ` +
      `assertion valid from ${isoSeconds(nbf)}, expiry time of assertion ${isoSeconds(exp)}. Review the ` +
      'documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .',
  }),
  /** iss or sub is not the client_id sent. */
  assertionClientMismatch: (): AadError => ({
    status: 401,
    error: 'invalid_client',
    code: 700021,
    description:
      "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation " +
      'at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .',
  }),
  unsupportedAssertionType: (type: string): AadError => ({
    status: 400,
    error: 'invalid_request',
    code: 50027,
    description: `JWT token is invalid or malformed. Unsupported client_assertion_type '${type}'.`,
  }),
  scopeNotDefault: (scope: string): AadError => ({
    status: 400,
    error: 'invalid_scope',
    code: 1002012,
    description:
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value ` +
      'with /.default suffixed to the resource identifier (application ID URI).',
  }),
  unknownResource: (resource: string, tenant: string): AadError => ({
    status: 400,
    error: 'invalid_resource',
    code: 500011,
    description:
      `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can ` +
      'happen if the application has not been installed by the administrator of the tenant or consented ' +
      'to by any user in the tenant. You might have sent your authentication request to the wrong tenant.',
  }),
}

function isoSeconds(epochSeconds: number): string {
  return new Date(Math.floor(epochSeconds) * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
}
