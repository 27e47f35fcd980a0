import { randomBytes, randomUUID } from 'node:crypto'
import type { Request, Response } from 'express'
import { sql, type Kysely } from 'kysely'
import { hashToken, sameDigest } from '../../crypto/api-token'
import type { DB, SecondFactor } from '../../db/schema'

export const SESSION_COOKIE = 'orgsync_session'
/** The cookie is sent to the API only (not to SCIM, health or metrics). */
const COOKIE_PATH = '/api'
/** At most one `last_seen_at` write a minute per session. */
const SEEN_EVERY = "interval '1 minute'"
const USER_AGENT_MAX = 512

/** A session cookie's value and the CSRF token that goes with it: 256 random bits each. */
const newSecret = () => randomBytes(32).toString('base64url')

/** Cookie header → the session cookie's value (the first one, if a client sends it twice). */
export function sessionCookie(req: Request): string | undefined {
  const header = req.headers.cookie
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue
    let value = part.slice(eq + 1).trim()
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1)
    return /^[\w-]{1,256}$/.test(value) ? value : undefined
  }
  return undefined
}

function cookie(req: Request, value: string, maxAgeSeconds: number): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    `Path=${COOKIE_PATH}`,
    `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`,
    'HttpOnly',
    'SameSite=Strict',
    // Behind TLS (directly, or a trusted proxy that says so). Plain-HTTP development still works.
    ...(req.secure ? ['Secure'] : []),
  ].join('; ')
}

export function setSessionCookie(req: Request, res: Response, value: string, expiresAt: Date): void {
  res.append('Set-Cookie', cookie(req, value, (expiresAt.getTime() - Date.now()) / 1000))
}

export function clearSessionCookie(req: Request, res: Response): void {
  res.append('Set-Cookie', cookie(req, '', 0))
}

export interface NewSession {
  id: string
  /** The cookie's value: given to the client once, stored as a digest. */
  token: string
  csrfToken: string
  expiresAt: Date
}

/** Opens a session in the caller's transaction; it lasts `hours` (the policy's sessionHours). */
export async function createSession(
  trx: Kysely<DB>,
  input: {
    adminId: string
    secondFactor: SecondFactor
    hours: number
    ip: string | null
    userAgent: string | null
  },
): Promise<NewSession> {
  const id = randomUUID()
  const token = newSecret()
  const csrfToken = newSecret()
  const row = await trx
    .insertInto('admin_sessions')
    .values({
      id,
      admin_id: input.adminId,
      token_hash: hashToken(token),
      csrf_hash: hashToken(csrfToken),
      second_factor: input.secondFactor,
      expires_at: sql<Date>`now() + make_interval(hours => ${input.hours})`,
      ip: input.ip,
      user_agent: input.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
    })
    .returning('expires_at')
    .executeTakeFirstOrThrow()
  return { id, token, csrfToken, expiresAt: new Date(row.expires_at) }
}

export interface SessionLookup {
  id: string
  adminId: string
  adminName: string
  secondFactor: SecondFactor
  totpEnabled: boolean
  csrfHash: Buffer
  expiresAt: Date
  /** Why the session cannot be used, or undefined when it can. */
  ended?: string
}

/**
 * Finds a session by its cookie's digest and says whether it is still good: not revoked, not past
 * its expiry, not idle for longer than `idleMinutes`, and its admin not disabled. Times are the
 * database's, so replicas with drifting clocks agree.
 */
export async function findSession(
  db: Kysely<DB>,
  token: string,
  idleMinutes: number,
): Promise<SessionLookup | undefined> {
  const row = await db
    .selectFrom('admin_sessions as s')
    .innerJoin('admins as a', 'a.id', 's.admin_id')
    .select([
      's.id',
      's.admin_id',
      'a.name',
      's.second_factor',
      's.csrf_hash',
      's.expires_at',
      'a.totp_enabled_at',
      sql<boolean>`s.revoked_at is not null`.as('revoked'),
      sql<boolean>`s.expires_at <= now()`.as('expired'),
      sql<boolean>`s.last_seen_at <= now() - make_interval(mins => ${idleMinutes})`.as('idle'),
      sql<boolean>`a.disabled_at is not null`.as('disabled'),
    ])
    .where('s.token_hash', '=', hashToken(token))
    .executeTakeFirst()
  if (!row) return undefined
  const ended = row.revoked
    ? 'the session was signed out'
    : row.disabled
      ? `admin "${row.name}" is disabled`
      : row.expired
        ? 'the session has expired'
        : row.idle
          ? `the session was idle for more than ${idleMinutes} minutes`
          : undefined
  return {
    id: row.id,
    adminId: row.admin_id,
    adminName: row.name,
    secondFactor: row.second_factor,
    totpEnabled: row.totp_enabled_at !== null,
    csrfHash: Buffer.from(row.csrf_hash),
    expiresAt: new Date(row.expires_at),
    ...(ended ? { ended } : {}),
  }
}

/** True when the header's token is the session's (digests compared in constant time). */
export function csrfMatches(session: SessionLookup, header: string | undefined): boolean {
  if (!header || header.length > 256) return false
  return sameDigest(hashToken(header), session.csrfHash)
}

/** Records activity for the idle timeout, at most once a minute. */
export async function touchSession(db: Kysely<DB>, sessionId: string): Promise<void> {
  await db
    .updateTable('admin_sessions')
    .set({ last_seen_at: sql`now()` })
    .where('id', '=', sessionId)
    .where('last_seen_at', '<', sql<Date>`now() - ${sql.raw(SEEN_EVERY)}`)
    .execute()
}
