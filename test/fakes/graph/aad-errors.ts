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
