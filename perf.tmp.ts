import { randomBytes } from 'node:crypto'
import { SecretBox } from './src/crypto/secret-box'
import { openDatabase } from './src/db/open-database'
import { createApp } from './src/http/app'
import { createLogger } from './src/logger'
import { OrgStore } from './src/org/org-store'
import { buildServices } from './src/wiring'
import { ScimTokenService } from './src/admin/scim-tokens'
import { connectorRegistry } from './connectors'
;(async () => {
  const h = await openDatabase({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1/scimx', poolMax: 10 })
  const store = new OrgStore(h.db)
  const logger = createLogger('warn')
  const services = buildServices({
    store,
    box: new SecretBox(randomBytes(32)),
    connectors: connectorRegistry,
    logger,
  })
  const app = createApp({ store, ...services, logger })
  const { token } = await new ScimTokenService(store).create(
    { type: 'system', id: 'x', name: 'x' },
    '00000000-0000-4000-8000-000000000001',
  )
  const server = app.listen(3999, '127.0.0.1')
  console.log(token)
  process.on('SIGINT', () => {
    server.close()
    h.close().then(() => process.exit(0))
  })
})()
