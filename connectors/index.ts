import type { ConnectorRegistry } from '../src/sync/connector'
import { csvConnector } from './csv'
import { entraConnector } from './entra'
import { googleConnector } from './google'
import { ldapConnector } from './ldap'
import { fakeConnector } from './fake'

/** Every connector this build ships, by source type. Wired in by main; tests build their own maps. */
export const connectorRegistry: ConnectorRegistry = {
  csv: csvConnector,
  entra: entraConnector,
  google: googleConnector,
  ldap: ldapConnector,
  fake: fakeConnector,
}
