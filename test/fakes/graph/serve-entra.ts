import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { startGraphFake } from './graph-fake'
import { seedOrg } from './seed-org'

/**
 * Runs the Graph fake as a standalone server seeded with a generated org, for trying orgsync's Entra
 * connector by hand: `npx tsx test/fakes/graph/serve-entra.ts [--port 8443] [--users 5000]
 * [--departments 200] [--groups N] [--seed N]`. Prints the source to register and how to trust the fake.
 */

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`--${name} must be a non-negative integer, got '${value}'`)
  return n
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      users: { type: 'string' },
      departments: { type: 'string' },
      groups: { type: 'string' },
      seed: { type: 'string' },
    },
  })
  const port = positiveInt(values.port, 'port', 8443)
  const users = positiveInt(values.users, 'users', 5000)
  const departments = positiveInt(values.departments, 'departments', 200)
  const groups = values.groups === undefined ? undefined : positiveInt(values.groups, 'groups', 0)
  const seed = positiveInt(values.seed, 'seed', 1)

  const fake = await startGraphFake({ port })
  fake.seed(seedOrg({ users, departments, groups, seed }))
  const caFile = path.join(tmpdir(), `orgsync-fake-entra-ca-${fake.port}.pem`)
  writeFileSync(caFile, fake.ca)

  const source = {
    type: 'entra',
    name: 'Fake Entra ID',
    config: {
      tenantId: fake.tenantId,
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      authorityHost: fake.authorityHost,
      graphBaseUrl: fake.graphBaseUrl,
    },
  }
  process.stdout.write(
    [
      `Fake Entra ID (Microsoft Graph + identity platform) listening on ${fake.graphBaseUrl}`,
      `  seeded with ${users} users in ${departments} departments`,
      '',
      "Start orgsync trusting the fake's self-signed certificate:",
      `  NODE_EXTRA_CA_CERTS=${caFile} npm run dev`,
      '',
      'Then register this source (POST it to the sources API):',
      JSON.stringify(source, null, 2),
      '',
      'Ctrl-C stops the fake.',
      '',
    ].join('\n'),
  )

  const stop = () => {
    fake.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(
          `stopping the fake failed: ${err instanceof Error ? err.message : String(err)}\n`,
        )
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err: unknown) => {
  process.stderr.write(`serve-entra: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
