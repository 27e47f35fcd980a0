/**
 * Error bodies as Google sends them. Two families:
 * - the OAuth token endpoint answers flat `{error, error_description}` (RFC 6749 §5.2);
 * - the Directory API answers `{error: {code, message, errors: [{message, domain, reason}]}}`.
 *
 * Directory's own refusals (forbidden, invalid, notFound, userRateLimitExceeded) are observed without a
 * top-level `status`; errors raised by Google's front end (401, scope checks, 429) carry one. Clients
 * must not rely on `status` being there.
 */

export interface ApiErrorItem {
  message: string
  domain: string
  reason: string
  location?: string
  locationType?: string
}

export interface ApiErrorBody {
  error: { code: number; message: string; errors: ApiErrorItem[]; status?: string }
}

export interface ApiError {
  status: number
  body: ApiErrorBody
  headers?: Record<string, string>
}

export interface TokenError {
  status: number
  body: { error: string; error_description: string }
}

function apiError(
  status: number,
  message: string,
  item: Partial<ApiErrorItem> & { reason: string },
  grpcStatus?: string,
): ApiError {
  const errors = [{ message: item.message ?? message, domain: item.domain ?? 'global', ...item }]
  const error: ApiErrorBody['error'] = { code: status, message, errors }
  if (grpcStatus) error.status = grpcStatus
  return { status, body: { error } }
}

export const directoryErrors = {
  loginRequired: (): ApiError =>
    apiError(
      401,
      'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or ' +
        'other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      {
        message: 'Login Required.',
        reason: 'required',
        location: 'Authorization',
        locationType: 'header',
      },
      'UNAUTHENTICATED',
    ),
  invalidCredentials: (): ApiError =>
    apiError(
      401,
      'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other ' +
        'valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      {
        message: 'Invalid Credentials',
        reason: 'authError',
        location: 'Authorization',
        locationType: 'header',
      },
      'UNAUTHENTICATED',
    ),
  insufficientScopes: (): ApiError =>
    apiError(
      403,
      'Request had insufficient authentication scopes.',
      { message: 'Insufficient Permission', reason: 'insufficientPermissions' },
      'PERMISSION_DENIED',
    ),
  notAuthorized: (): ApiError =>
    apiError(403, 'Not Authorized to access this resource/api', { reason: 'forbidden' }),
  badRequest: (): ApiError => apiError(400, 'Bad Request', { reason: 'badRequest' }),
  invalidInput: (message = 'Invalid Input'): ApiError => apiError(400, message, { reason: 'invalid' }),
  notFound: (what: string): ApiError => apiError(404, `Resource Not Found: ${what}`, { reason: 'notFound' }),
  quota: (status: 403 | 429, reason: string, retryAfterSeconds?: number): ApiError => {
    const err =
      status === 429
        ? apiError(
            429,
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service " +
              "'admin.googleapis.com' for consumer 'project_number:000000000000'.",
            { reason, domain: 'usageLimits' },
            'RESOURCE_EXHAUSTED',
          )
        : apiError(403, reason === 'quotaExceeded' ? 'Quota Exceeded' : 'User Rate Limit Exceeded', {
            reason,
            domain: 'usageLimits',
          })
    if (retryAfterSeconds !== undefined) err.headers = { 'retry-after': String(retryAfterSeconds) }
    return err
  },
}

function tokenError(status: number, error: string, description: string): TokenError {
  return { status, body: { error, error_description: description } }
}

export const tokenErrors = {
  unsupportedGrantType: (grantType: string): TokenError =>
    tokenError(400, 'unsupported_grant_type', `Invalid grant_type: ${grantType}`),
  invalidRequest: (description: string): TokenError => tokenError(400, 'invalid_request', description),
  badSignature: (): TokenError => tokenError(400, 'invalid_grant', 'Invalid JWT Signature.'),
  unknownServiceAccount: (): TokenError =>
    tokenError(400, 'invalid_grant', 'Invalid grant: account not found'),
  badAudience: (): TokenError => tokenError(400, 'invalid_grant', 'Invalid JWT: Failed audience check.'),
  badTimes: (): TokenError =>
    tokenError(
      400,
      'invalid_grant',
      'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. ' +
        'Check your iat and exp values in the JWT claim.',
    ),
  unknownSubject: (): TokenError => tokenError(400, 'invalid_grant', 'Invalid email or User ID'),
  missingScope: (): TokenError =>
    tokenError(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.'),
  // Google answers 401 here, not 400: it treats a missing delegation grant as an unauthorised client.
  notDelegated: (): TokenError =>
    tokenError(
      401,
      'unauthorized_client',
      'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of ' +
        'the scopes requested.',
    ),
}
