import type { RemoteChange } from '../../src/sync/connector'
import { entryId } from './entry-mapping'
import type { LdapConfig } from './ldap-config'
import type { LdapSession } from './ldap-session'

/**
 * An AD source's roster: every in-scope user's objectGUID, one `user.roster` change per page. Where
 * deleted objects are not read as tombstones, the users a roster no longer lists are the leavers.
 */
export async function adUserRoster(
  session: LdapSession,
  scope: { config: LdapConfig; userFilter: string; inScope(dn: string): boolean },
  signal: AbortSignal,
): Promise<RemoteChange[]> {
  const changes: RemoteChange[] = []
  for await (const page of session.pages('list user GUIDs', scope.config.baseDn, {
    filter: scope.userFilter,
    attributes: ['objectGUID'],
    explicitBufferAttributes: ['objectGUID'],
  })) {
    signal.throwIfAborted()
    const ids = page
      .filter((e) => scope.inScope(e.dn))
      .map((e) => entryId(e, scope.config))
      .filter((id): id is string => id !== undefined)
    changes.push({ kind: 'user.roster', externalIds: ids })
  }
  return changes
}
