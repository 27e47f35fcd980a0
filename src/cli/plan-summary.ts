import type { PlanSummary } from '../sync/plan-changes'
import type { PlanView } from '../sync/plan-service'

const n = (v: number) => v.toLocaleString('en-US')

/** A plan as an admin reads it in a terminal: what would change, in a few lines. */
export function formatPlan(plan: PlanView, sourceName: string): string {
  const lines = [`Plan ${plan.id} for source "${sourceName}": ${plan.status.toUpperCase()}`]
  if (plan.status === 'failed') {
    lines.push(`  ${plan.error ?? 'failed'}`)
    const errors = (
      plan.errorDetails as { errors?: { row: number; column: string | null; reason: string }[] } | null
    )?.errors
    for (const e of (errors ?? []).slice(0, 20)) {
      lines.push(`    row ${e.row}${e.column ? `, column ${e.column}` : ''}: ${e.reason}`)
    }
    if (errors && errors.length > 20) lines.push(`    … and ${n(errors.length - 20)} more`)
    return lines.join('\n')
  }
  const s = plan.summary as PlanSummary
  lines.push(
    `  People       ${n(s.people.create)} new, ${n(s.people.update)} updated, ${n(s.people.move)} moved, ` +
      `${n(s.people.manager)} manager changes, ${n(s.people.suspend)} suspended, ${n(s.people.reactivate)} reactivated, ` +
      `${n(s.people.deprovision)} deprovisioned`,
    `  Departments  ${n(s.departments.create)} new, ${n(s.departments.rename)} renamed, ${n(s.departments.move)} moved, ` +
      `${n(s.departments.delete)} deleted`,
    `  Groups       ${n(s.groups.create)} new, ${n(s.groups.update)} updated, ${n(s.groups.delete)} deleted; ` +
      `memberships +${n(s.memberships.added)} -${n(s.memberships.removed)}`,
  )
  if (s.protectedSkipped > 0)
    lines.push(`  Protected    ${n(s.protectedSkipped)} suspensions of protected people flagged, not applied`)
  if (plan.changeCount === 0) lines.push('  Nothing to change: the org tree already matches the source.')
  if (plan.status === 'held') lines.push(`  Held: ${plan.heldReason}`)
  const warnings = (plan.errorDetails as { warnings?: string[] } | null)?.warnings
  for (const w of (warnings ?? []).slice(0, 10)) lines.push(`  warning: ${w}`)
  return lines.join('\n')
}
