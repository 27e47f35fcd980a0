import { loadConfig } from '../config'
import { pendingMigrations } from '../db/migrate'
import { verifyAuditChain, type VerifyResult } from '../org/audit-chain'
import { openConfiguredDatabase } from '../service'

export function formatVerifyResult(result: VerifyResult): string {
  if (result.ok)
    return (
      `audit log intact: ${result.checked} event(s) checked, seq ${result.anchorSeq + 1} to ${result.lastSeq}\n` +
      `head hash ${result.lastHash} (keep it elsewhere to compare with a later verify)\n`
    )
  const { seq, reason } = result.firstBroken
  return `audit log BROKEN at seq ${seq}: ${reason} (${result.checked} event(s) before it verified)\n`
}

/**
 * `orgsync audit verify`: re-reads the audit chain from its anchor to its head and recomputes every
 * hash. Exit code 0 when intact, 1 when broken. It never migrates: an old schema has no chain yet.
 */
export async function auditVerifyCommand(options: { json?: boolean }): Promise<number> {
  const config = loadConfig()
  const handle = await openConfiguredDatabase(config)
  try {
    const pending = await pendingMigrations(handle.db)
    if (pending.length > 0)
      throw new Error(
        `the database has pending migrations (${pending.join(', ')}): run \`orgsync migrate\` first`,
      )
    const result = await verifyAuditChain(handle.db)
    process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : formatVerifyResult(result))
    return result.ok ? 0 : 1
  } finally {
    await handle.close()
  }
}
