import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { connectorRegistry } from '../connectors'
import { loadConfig } from '../src/config'
import { createLogger } from '../src/logger'
import { startService } from '../src/service'
import { describeWithPostgresCopy } from './helpers/postgres-admin'

const logger = createLogger('silent')

async function json(url: string, token?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} })
  return { status: res.status, body: await res.json() }
}

describe('the service on the embedded store', () => {
  let dataDir: string
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'orgsync-service-'))
  })
  afterAll(() => rm(dataDir, { recursive: true, force: true }))

  test('first start generates a key and an admin token; a restart keeps the data and prints no new token', async () => {
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir })
    const first = await startService(config, logger, { connectors: connectorRegistry })
    let departmentId: string
    try {
      expect((await json(`${first.url}/readyz`)).status).toBe(200)
      const token = first.bootstrap.generatedToken
      expect(token).toMatch(/^osa_[A-Za-z0-9_-]{43}$/)
      const res = await fetch(`${first.url}/api/v1/departments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Partners' }),
      })
      expect(res.status).toBe(201)
      departmentId = ((await res.json()) as { id: string }).id
      // The generated key file is the owner's alone.
      expect((await stat(path.join(dataDir, 'secret.key'))).mode & 0o777).toBe(0o600)
    } finally {
      await first.close()
    }

    const second = await startService(config, logger, { connectors: connectorRegistry })
    try {
      expect(second.bootstrap).toEqual({ outcome: 'admins-exist' })
      const listed = await json(`${second.url}/api/v1/departments`, first.bootstrap.generatedToken)
      expect(listed.status).toBe(200)
      expect(listed.body).toMatchObject({ items: [{ id: departmentId, name: 'Partners', virtual: true }] })
    } finally {
      await second.close()
    }
  }, 60_000)

  test('the data directory belongs to one live process; a stale claim is taken over', async () => {
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir })
    const pidFile = path.join(dataDir, 'orgsync.pid')
    // Another live process (jest's parent) claims the directory.
    await writeFile(pidFile, `${process.ppid}\n`)
    await expect(startService(config, logger, { connectors: connectorRegistry })).rejects.toThrow(
      `the embedded database in ${dataDir} is in use by another orgsync process (pid ${process.ppid})`,
    )
    // A claim by a process that no longer exists is stale.
    await writeFile(pidFile, '2147483646\n')
    const running = await startService(config, logger, { connectors: connectorRegistry })
    try {
      expect((await readFile(pidFile, 'utf8')).trim()).toBe(String(process.pid))
    } finally {
      await running.close()
    }
    await expect(stat(pidFile)).rejects.toMatchObject({ code: 'ENOENT' })
  }, 60_000)
})

describeWithPostgresCopy('the service on PostgreSQL', (url) => {
  test('starts ready with DATABASE_URL, installs ORGSYNC_ADMIN_TOKEN, and refuses another secret key later', async () => {
    const env = {
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: url,
      ORGSYNC_SECRET_KEY: randomBytes(32).toString('base64'),
      ORGSYNC_ADMIN_TOKEN: `pg-admin-${randomBytes(12).toString('hex')}`,
    }
    const service = await startService(loadConfig(env), logger, { connectors: connectorRegistry })
    try {
      expect(service.bootstrap).toEqual({ outcome: 'env-token-installed' })
      expect(await json(`${service.url}/readyz`)).toEqual({ status: 200, body: { status: 'ready' } })
      expect((await json(`${service.url}/api/v1/sources`, env.ORGSYNC_ADMIN_TOKEN)).status).toBe(200)
    } finally {
      await service.close()
    }
    const otherKey = { ...env, ORGSYNC_SECRET_KEY: randomBytes(32).toString('base64') }
    await expect(
      startService(loadConfig(otherKey), logger, { connectors: connectorRegistry }),
    ).rejects.toThrow(/ORGSYNC_SECRET_KEY is not the key/)
  }, 60_000)
})
