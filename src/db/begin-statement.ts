import type { TransactionSettings } from 'kysely'

/** The statement that opens a transaction with kysely's settings (isolation level, access mode). */
export function beginStatement(settings: TransactionSettings): string {
  if (!settings.isolationLevel && !settings.accessMode) return 'begin'
  let text = 'start transaction'
  if (settings.isolationLevel) text += ` isolation level ${settings.isolationLevel}`
  if (settings.accessMode) text += ` ${settings.accessMode}`
  return text
}
