import { type CheckResult, ConnectorError } from '../../src/sync/connector'
import { type DirectoryClient } from './google-directory'

type Check = CheckResult['checks'][number]

/**
 * The admin's "test connection": a token, then one user, the top-level org units and one group, each
 * step its own line so the screen says which grant or role is missing. Expected failures (Google
 * refusing) become failed steps; an abort or a bug still throws.
 */
export async function checkDirectory(
  client: DirectoryClient,
  who: { clientEmail: string; subject: string },
  signal: AbortSignal,
): Promise<CheckResult> {
  const checks: Check[] = []
  const step = async (name: string, run: () => Promise<string>): Promise<boolean> => {
    try {
      checks.push({ name, ok: true, message: await run() })
      return true
    } catch (err) {
      if (!(err instanceof ConnectorError)) throw err
      checks.push({ name, ok: false, message: err.message })
      return false
    }
  }

  const signedIn = await step('token', async () => {
    await client.token(signal)
    return `${who.clientEmail} got an access token acting as ${who.subject} (domain-wide delegation)`
  })
  const reads: [string, () => Promise<string>][] = [
    [
      'users',
      async () => {
        const { items } = await client.users(undefined, 1, 'check: list one user', signal)
        const first = items[0]?.primaryEmail
        return first ? `can read users (e.g. ${first})` : 'can read users, but the directory lists none'
      },
    ],
    [
      'org units',
      async () => {
        const units = await client.orgUnits('check: list org units', signal, 'children')
        return `can read org units (${units.length} top-level ${units.length === 1 ? 'unit' : 'units'})`
      },
    ],
    [
      'groups',
      async () => {
        const { items } = await client.groups(undefined, 1, 'check: list one group', signal)
        const first = items[0]?.email
        return first ? `can read groups (e.g. ${first})` : 'can read groups, but there are none'
      },
    ],
  ]
  for (const [name, run] of reads) {
    if (signedIn) await step(name, run)
    else checks.push({ name, ok: false, message: 'not checked: no access token (see the token step)' })
  }
  return { ok: checks.every((c) => c.ok), checks }
}
