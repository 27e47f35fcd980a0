import { availableParallelism } from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { parseCidr } from './admin/network-policy'

/** Raised for a bad environment: the CLI prints its one-line message and exits 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

const MAX_WORKERS = 64

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

function integer(name: string, min: number, max: number, fallback: number) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return fallback
      const n = Number(raw)
      if (!/^\d+$/.test(raw.trim()) || n < min || n > max) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
        })
        return z.NEVER
      }
      return n
    })
}

const envSchema = z.object({
  PORT: integer('PORT', 0, 65535, 8080),
  HOST: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() !== '' ? v.trim() : '0.0.0.0')),
  LOG_LEVEL: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const v = (raw ?? '').trim().toLowerCase() || 'info'
      if (!(LOG_LEVELS as readonly string[]).includes(v)) {
        ctx.addIssue({
          code: 'custom',
          message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(raw)}`,
        })
        return z.NEVER
      }
      return v as (typeof LOG_LEVELS)[number]
    }),
  DATABASE_URL: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined
      let url: URL
      try {
        url = new URL(raw)
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: 'DATABASE_URL must be a postgres:// URL, got an unparsable value',
        })
        return z.NEVER
      }
      if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
        ctx.addIssue({
          code: 'custom',
          message: `DATABASE_URL must be a postgres:// or postgresql:// URL (unset it to use the embedded store), got a ${url.protocol.replace(/:$/, '')}:// URL`,
        })
        return z.NEVER
      }
      return raw.trim()
    }),
  DATABASE_POOL_MAX: integer('DATABASE_POOL_MAX', 1, 1000, 10),
  DATA_DIR: z
    .string()
    .optional()
    .transform((v) => path.resolve(v && v.trim() !== '' ? v : './data')),
  ORGSYNC_ADMIN_TOKEN: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return undefined
      if (raw.length < 24 || /\s/.test(raw)) {
        ctx.addIssue({
          code: 'custom',
          message:
            'ORGSYNC_ADMIN_TOKEN must be at least 24 characters with no whitespace (e.g. `openssl rand -base64 32`)',
        })
        return z.NEVER
      }
      return raw
    }),
  ORGSYNC_SECRET_KEY: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined
      const key = parseSecretKey(raw.trim())
      if (!key) {
        ctx.addIssue({
          code: 'custom',
          message:
            'ORGSYNC_SECRET_KEY must be 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)',
        })
        return z.NEVER
      }
      return key
    }),
  SHUTDOWN_TIMEOUT_SECONDS: integer('SHUTDOWN_TIMEOUT_SECONDS', 1, 3600, 30),
  ORGSYNC_WORKERS: z
    .string()
    .optional()
    .transform((raw, ctx): number | 'auto' => {
      const v = (raw ?? '').trim().toLowerCase()
      if (v === '') return 1
      if (v === 'auto') return 'auto'
      if (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= MAX_WORKERS) return Number(v)
      ctx.addIssue({
        code: 'custom',
        message: `ORGSYNC_WORKERS must be auto or an integer from 1 to ${MAX_WORKERS}, got ${JSON.stringify(raw)}`,
      })
      return z.NEVER
    }),
  ORGSYNC_TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const entries = (raw ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
      const bad = entries.filter((entry) => 'error' in parseCidr(entry))
      if (bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `ORGSYNC_TRUSTED_PROXIES must be comma-separated IPv4 or IPv6 addresses or CIDR blocks (e.g. 10.0.0.0/8,fd00::/8), got ${bad.map((b) => JSON.stringify(b)).join(', ')}`,
        })
        return z.NEVER
      }
      return entries
    }),
})

/** 32 raw bytes from 64 hex digits or from base64 / base64url. */
export function parseSecretKey(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex')
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const buf = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
    if (buf.length === 32) return buf
  }
  return undefined
}

export type Database =
  { kind: 'postgres'; url: string; poolMax: number } | { kind: 'pglite'; dataDir: string }

export interface Config {
  readonly port: number
  readonly host: string
  readonly logLevel: (typeof LOG_LEVELS)[number]
  readonly database: Readonly<Database>
  readonly dataDir: string
  readonly adminToken: string | undefined
  /** Undefined only on the embedded store, where one is generated into DATA_DIR. */
  readonly secretKey: Buffer | undefined
  readonly shutdownTimeoutMs: number
  /**
   * Proxies whose X-Forwarded-For is believed (addresses or CIDRs); empty: none, and a request's
   * address is always its socket's peer.
   */
  readonly trustedProxies: readonly string[]
  /**
   * HTTP worker processes (ORGSYNC_WORKERS): 1 serves from this process; more fork a node cluster
   * whose workers are replicas on the one PostgreSQL database. Always 1 on the embedded store.
   */
  readonly workers: number
}

/** Parses the environment once. Throws ConfigError with one line naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env)
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => i.message).join('; '))
  }
  const e = parsed.data
  if (e.DATABASE_URL && !e.ORGSYNC_SECRET_KEY) {
    throw new ConfigError(
      'ORGSYNC_SECRET_KEY is required with DATABASE_URL: every replica must share the key that encrypts connector credentials (e.g. `openssl rand -base64 32`)',
    )
  }
  if (!e.DATABASE_URL && typeof e.ORGSYNC_WORKERS === 'number' && e.ORGSYNC_WORKERS > 1) {
    throw new ConfigError(
      `ORGSYNC_WORKERS=${e.ORGSYNC_WORKERS} needs DATABASE_URL: the embedded store belongs to one process (unset ORGSYNC_WORKERS or use PostgreSQL)`,
    )
  }
  const workers =
    e.ORGSYNC_WORKERS !== 'auto'
      ? e.ORGSYNC_WORKERS
      : e.DATABASE_URL
        ? Math.min(availableParallelism(), MAX_WORKERS)
        : 1
  const database: Database = e.DATABASE_URL
    ? { kind: 'postgres', url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX }
    : { kind: 'pglite', dataDir: path.join(e.DATA_DIR, 'pglite') }
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    database: Object.freeze(database),
    dataDir: e.DATA_DIR,
    adminToken: e.ORGSYNC_ADMIN_TOKEN,
    secretKey: e.ORGSYNC_SECRET_KEY,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    trustedProxies: Object.freeze(e.ORGSYNC_TRUSTED_PROXIES),
    workers,
  })
}
