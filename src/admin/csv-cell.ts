import { valueJson } from '../org/audit-chain'

/**
 * One CSV cell (RFC 4180 quoting). Text a spreadsheet would run as a formula (= + - @, and tab or CR
 * that some strip first) gets a leading apostrophe: names, user agents and before/after values are
 * outsiders' text. Objects are written as canonical JSON.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return ''
  let text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : valueJson(value)
  if (typeof value !== 'number' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}
