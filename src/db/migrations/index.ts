import type { Migration } from 'kysely'
import * as orgStore from './0001-org-store'
import * as syncEngine from './0002-sync-engine'
import * as matchingIndexes from './0003-matching-indexes'
import * as scim from './0004-scim'
import * as pendingManagers from './0005-pending-managers'
import * as planResync from './0006-plan-resync'
import * as adminSecurity from './0007-admin-security'
import * as auditChain from './0008-audit-chain'
import * as auditAppend from './0009-audit-append'
import * as auditAppendEvents from './0010-audit-append-events'

/**
 * Every migration, by name, compiled into the app (no directory scanning at run time).
 * Names sort in the order they apply; never rename or edit one that has shipped.
 */
export const migrations: Readonly<Record<string, Migration>> = {
  '0001-org-store': orgStore,
  '0002-sync-engine': syncEngine,
  '0003-matching-indexes': matchingIndexes,
  '0004-scim': scim,
  '0005-pending-managers': pendingManagers,
  '0006-plan-resync': planResync,
  '0007-admin-security': adminSecurity,
  '0008-audit-chain': auditChain,
  '0009-audit-append': auditAppend,
  '0010-audit-append-events': auditAppendEvents,
}
