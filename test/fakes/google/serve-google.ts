/**
 * Runs the Google Workspace fake by hand:
 *   npx tsx test/fakes/google/serve-google.ts [--port 8444] [--users 5000] [--org-units 200] [--groups 50] [--seed 1]
 * Prints an orgsync source definition to POST, then serves until Ctrl-C.
 */
import { startGoogleFake } from './google-fake'
import { seedWorkspace } from './seed-workspace'

function parseArgs(argv: string[]): Record<string, number> {
  const known = new Set(['port', 'users', 'org-units', 'groups', 'seed'])
  const out: Record<string, number> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined]
    const name = flag.replace(/^--/, '')
    if (!flag.startsWith('--') || !known.has(name)) throw new Error(`unknown argument ${arg}`)
    const raw = inline ?? argv[++i]
    const value = Number(raw)
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} needs a whole number, got ${raw}`)
    out[name] = value
  }
  return out
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const fake = await startGoogleFake({ port: args.port ?? 8444 })
  const started = Date.now()
  const ws = seedWorkspace({
    users: args.users ?? 5000,
    orgUnits: args['org-units'] ?? 200,
    groups: args.groups,
    seed: args.seed ?? 1,
    domain: fake.domain,
  })
  fake.seed(ws)
  const source = {
    type: 'google',
    name: 'Google Workspace (fake)',
    config: {
      serviceAccountKey: fake.serviceAccountKey,
      subject: fake.subject,
      customer: 'my_customer',
      rootUrl: fake.rootUrl,
      tokenUrl: fake.tokenUrl,
    },
  }
  process.stderr.write(
    `Google fake on ${fake.rootUrl}: ${ws.users.length} users, ${ws.orgUnitPaths.length} org units, ` +
      `${ws.groups.length} groups, customer ${fake.customerId}, seeded in ${Date.now() - started} ms.\n` +
      'Source definition to POST (stdout). Ctrl-C stops.\n',
  )
  process.stdout.write(`${JSON.stringify(source)}\n`)
  const stop = (): void => {
    void fake.close().then(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`)
  process.exit(1)
})
