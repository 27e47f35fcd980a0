/**
 * A department path is its names from the root joined by "/". A "/" or "\" inside a name is escaped
 * with a backslash so a path always splits back into the same names (AD OU names may hold "/").
 */
export function escapeSegment(name: string): string {
  return name.replace(/[\\/]/g, (c) => `\\${c}`)
}

export function joinPath(parentPath: string | null, name: string): string {
  const segment = escapeSegment(name)
  return parentPath === null ? segment : `${parentPath}/${segment}`
}

/** Splits a path into names, honouring escapes. */
export function splitPath(path: string): string[] {
  const names: string[] = []
  let current = ''
  for (let i = 0; i < path.length; i++) {
    const c = path[i]
    if (c === '\\' && i + 1 < path.length) {
      current += path[++i]
    } else if (c === '/') {
      names.push(current)
      current = ''
    } else {
      current += c
    }
  }
  names.push(current)
  return names
}

export function joinIdPath(parentIdPath: string | null, id: string): string {
  return `${parentIdPath ?? '/'}${id}/`
}
