import { availableParallelism } from 'node:os'
import path from 'node:path'
import { ConfigError, loadConfig, parseSecretKey } from '../src/config'

const KEY_B64 = Buffer.alloc(32, 7).toString('base64')

describe('configuration from the environment', () => {
  test('defaults: port 8080 on all interfaces, embedded store under ./data', () => {
    const c = loadConfig({})
    expect(c).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      logLevel: 'info',
      adminToken: undefined,
      secretKey: undefined,
    })
    expect(c.database).toEqual({ kind: 'pglite', dataDir: path.resolve('data', 'pglite') })
    expect(c.shutdownTimeoutMs).toBe(30_000)
    expect(c.trustedProxies).toEqual([])
    expect(c.workers).toBe(1)
    expect(Object.isFrozen(c)).toBe(true)
  })

  test('ORGSYNC_WORKERS: a count or auto on PostgreSQL; never more than one on the embedded store', () => {
    const pg = { DATABASE_URL: 'postgres://u@db/orgsync', ORGSYNC_SECRET_KEY: KEY_B64 }
    expect(loadConfig({ ...pg, ORGSYNC_WORKERS: '3' }).workers).toBe(3)
    expect(loadConfig({ ...pg, ORGSYNC_WORKERS: ' AUTO ' }).workers).toBe(
      Math.min(availableParallelism(), 64),
    )
    expect(loadConfig({ ...pg, ORGSYNC_WORKERS: '' }).workers).toBe(1)
    // auto means "as many as make sense": one where the store is this process's own.
    expect(loadConfig({ ORGSYNC_WORKERS: 'auto' }).workers).toBe(1)
    expect(loadConfig({ ORGSYNC_WORKERS: '1' }).workers).toBe(1)
    expect(() => loadConfig({ ORGSYNC_WORKERS: '2' })).toThrow(
      new ConfigError(
        'ORGSYNC_WORKERS=2 needs DATABASE_URL: the embedded store belongs to one process (unset ORGSYNC_WORKERS or use PostgreSQL)',
      ),
    )
    for (const bad of ['0', '65', '-1', '1.5', 'many']) {
      expect(() => loadConfig({ ...pg, ORGSYNC_WORKERS: bad })).toThrow(
        `ORGSYNC_WORKERS must be auto or an integer from 1 to 64, got ${JSON.stringify(bad)}`,
      )
    }
  })

  test('DATABASE_URL selects PostgreSQL and then requires ORGSYNC_SECRET_KEY', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u@db/orgsync' })).toThrow(
      /ORGSYNC_SECRET_KEY is required with DATABASE_URL/,
    )
    const c = loadConfig({
      DATABASE_URL: 'postgresql://u@db/orgsync',
      ORGSYNC_SECRET_KEY: KEY_B64,
      DATABASE_POOL_MAX: '4',
    })
    expect(c.database).toEqual({ kind: 'postgres', url: 'postgresql://u@db/orgsync', poolMax: 4 })
    expect(c.secretKey).toEqual(Buffer.alloc(32, 7))
  })

  test.each([
    [{ PORT: 'abc' }, 'PORT must be an integer from 0 to 65535, got "abc"'],
    [{ PORT: '70000' }, 'PORT must be an integer from 0 to 65535, got "70000"'],
    [{ PORT: '80.5' }, 'PORT must be an integer from 0 to 65535, got "80.5"'],
    [
      { LOG_LEVEL: 'loud' },
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
    [{ DATABASE_URL: 'mysql://x' }, 'got a mysql:// URL'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL must be a postgres:// URL, got an unparsable value'],
    [{ ORGSYNC_ADMIN_TOKEN: 'short' }, 'ORGSYNC_ADMIN_TOKEN must be at least 24 characters'],
    [{ ORGSYNC_SECRET_KEY: 'abc' }, 'ORGSYNC_SECRET_KEY must be 32 bytes'],
    [{ SHUTDOWN_TIMEOUT_SECONDS: '0' }, 'SHUTDOWN_TIMEOUT_SECONDS must be an integer from 1 to 3600'],
    [
      { ORGSYNC_TRUSTED_PROXIES: '10.0.0.0/8, proxy.internal,10.0.0.0/33' },
      'ORGSYNC_TRUSTED_PROXIES must be comma-separated IPv4 or IPv6 addresses or CIDR blocks (e.g. 10.0.0.0/8,fd00::/8), got "proxy.internal", "10.0.0.0/33"',
    ],
  ])('%j is refused with a ConfigError naming the variable', (env, message) => {
    let error: unknown
    try {
      loadConfig(env)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toContain(message)
    expect((error as Error).message).not.toContain('\n')
  })

  test('ORGSYNC_TRUSTED_PROXIES lists addresses and CIDRs of both families; blank means none', () => {
    const c = loadConfig({ ORGSYNC_TRUSTED_PROXIES: ' 10.0.0.0/8, 192.0.2.7 ,fd00::/8,::1,, ' })
    expect(c.trustedProxies).toEqual(['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::1'])
    expect(Object.isFrozen(c.trustedProxies)).toBe(true)
    expect(loadConfig({ ORGSYNC_TRUSTED_PROXIES: '  ' }).trustedProxies).toEqual([])
  })

  test('several bad variables are named together on one line', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'y' })).toThrow(/^PORT must .*; LOG_LEVEL must .*$/)
  })

  test('a secret key is accepted as 64 hex digits, base64 or base64url, and nothing shorter', () => {
    const raw = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 8))
    expect(parseSecretKey(raw.toString('hex'))).toEqual(raw)
    expect(parseSecretKey(raw.toString('base64'))).toEqual(raw)
    expect(parseSecretKey(raw.toString('base64url'))).toEqual(raw)
    expect(parseSecretKey(raw.subarray(0, 31).toString('base64'))).toBeUndefined()
    expect(parseSecretKey('z'.repeat(64))).toBeUndefined()
  })
})
