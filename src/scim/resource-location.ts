/** Where served resources say they live (meta.location), and their weak ETags (meta.version). */
export interface ResourceContext {
  /** e.g. https://orgsync.example.com/scim/v2 — no trailing slash. */
  baseUrl: string
}

export const etagOf = (version: number): string => `W/"${version}"`

/** The version an If-Match / If-None-Match value names, or undefined when it names none of ours. */
export function versionsIn(header: string | undefined): { any: boolean; versions: Set<number> } {
  const versions = new Set<number>()
  if (header === undefined) return { any: false, versions }
  let any = false
  for (const part of header.split(',')) {
    const t = part.trim()
    if (t === '*') any = true
    const m = /^(?:W\/)?"(\d{1,12})"$/.exec(t)
    if (m) versions.add(Number(m[1]))
  }
  return { any, versions }
}
