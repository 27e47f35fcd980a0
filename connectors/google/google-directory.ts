import { admin, type admin_directory_v1 } from '@googleapis/admin'
import { createDirectoryAuth, DIRECTORY_SCOPES, type DirectoryAuth } from './google-auth'
import { DEFAULT_CUSTOMER, type GoogleConfig, parseServiceAccountKey } from './google-config'
import { type ErrorContext, httpStatusOf, isTokenEndpointFailure, toConnectorError } from './google-errors'
import { ConnectorError } from '../../src/sync/connector'

/** Google's maxima per page: users.list 500, groups.list and members.list 200. */
export const USERS_PAGE = 500
export const GROUPS_PAGE = 200
export const MEMBERS_PAGE = 200

export type GoogleUser = admin_directory_v1.Schema$User
export type GoogleOrgUnit = admin_directory_v1.Schema$OrgUnit
export type GoogleGroup = admin_directory_v1.Schema$Group
export type GoogleMember = admin_directory_v1.Schema$Member

export interface ListPage<T> {
  items: T[]
  nextPageToken?: string
}

/**
 * The Directory API calls this connector makes, each one request: the signal passed, the library's
 * own retries off (the engine retries, honouring Retry-After), and failures as ConnectorErrors.
 */
export class DirectoryClient {
  private readonly api: admin_directory_v1.Admin
  private readonly auth: DirectoryAuth
  private readonly customer: string
  /** The service account, for messages (never its key). */
  readonly clientEmail: string
  private readonly errorContext: Omit<ErrorContext, 'what'>

  constructor(config: GoogleConfig, fetchImplementation: typeof fetch) {
    const parsed = parseServiceAccountKey(config.serviceAccountKey)
    // The schema checked the key when the source was saved; this guards a connector opened directly.
    if (!parsed.ok) throw new ConnectorError('invalid-config', `google: serviceAccountKey ${parsed.reason}`)
    this.auth = createDirectoryAuth(parsed.key, config.subject, {
      tokenUrl: config.tokenUrl,
      fetch: fetchImplementation,
    })
    this.api = admin({
      version: 'directory_v1',
      auth: this.auth.client,
      ...(config.rootUrl === undefined ? {} : { rootUrl: config.rootUrl }),
    })
    this.customer = config.customer ?? DEFAULT_CUSTOMER
    this.clientEmail = parsed.key.client_email
    this.errorContext = {
      subject: config.subject,
      clientEmail: parsed.key.client_email,
      clientId: parsed.key.client_id,
      scopes: DIRECTORY_SCOPES,
    }
  }

  /** Fetches an access token (or finds the one held still valid). */
  async token(signal: AbortSignal): Promise<void> {
    await this.call('get an access token', signal, async () => {
      await this.auth.client.getAccessToken()
    })
  }

  async users(
    pageToken: string | undefined,
    maxResults: number,
    what: string,
    signal: AbortSignal,
  ): Promise<ListPage<GoogleUser>> {
    const { data } = await this.call(what, signal, () =>
      this.api.users.list(
        { customer: this.customer, maxResults, projection: 'full', pageToken },
        { signal, retry: false },
      ),
    )
    return page(data.users, data.nextPageToken)
  }

  /** Every org unit below the root (one request: orgunits.list does not page). */
  async orgUnits(
    what: string,
    signal: AbortSignal,
    type: 'all' | 'children' = 'all',
  ): Promise<GoogleOrgUnit[]> {
    const { data } = await this.call(what, signal, () =>
      this.api.orgunits.list({ customerId: this.customer, type }, { signal, retry: false }),
    )
    return data.organizationUnits ?? []
  }

  async groups(
    pageToken: string | undefined,
    maxResults: number,
    what: string,
    signal: AbortSignal,
  ): Promise<ListPage<GoogleGroup>> {
    const { data } = await this.call(what, signal, () =>
      this.api.groups.list({ customer: this.customer, maxResults, pageToken }, { signal, retry: false }),
    )
    return page(data.groups, data.nextPageToken)
  }

  /** A page of a group's direct members; null when the group is gone (deleted since it was listed). */
  async members(
    groupId: string,
    pageToken: string | undefined,
    what: string,
    signal: AbortSignal,
  ): Promise<ListPage<GoogleMember> | null> {
    try {
      const { data } = await this.call(what, signal, () =>
        this.api.members.list(
          { groupKey: groupId, maxResults: MEMBERS_PAGE, pageToken },
          { signal, retry: false },
        ),
      )
      return page(data.members, data.nextPageToken)
    } catch (err) {
      if (err instanceof ConnectorError && httpStatusOf(err.cause) === 404) return null
      throw err
    }
  }

  /**
   * One request, with a second try after a 401: the client trusts its own clock for the token's
   * expiry and does not refresh a token Google has revoked or forgotten.
   */
  private async call<T>(what: string, signal: AbortSignal, request: () => Promise<T>): Promise<T> {
    signal.throwIfAborted()
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.auth.during(signal, request)
      } catch (err) {
        // An abort is the caller's doing, not Google's: it goes up as it is.
        if (signal.aborted) throw signal.reason ?? err
        if (attempt === 1 && httpStatusOf(err) === 401 && !isTokenEndpointFailure(err)) {
          this.auth.forgetToken()
          continue
        }
        throw toConnectorError(err, { ...this.errorContext, what })
      }
    }
  }
}

function page<T>(items: T[] | undefined, nextPageToken: string | null | undefined): ListPage<T> {
  return nextPageToken ? { items: items ?? [], nextPageToken } : { items: items ?? [] }
}
