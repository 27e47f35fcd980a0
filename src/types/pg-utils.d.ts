// node-postgres exports its value preparation (package.json "./lib/*") without declaring its type.
declare module 'pg/lib/utils' {
  /** A query parameter as node-postgres sends it: text, a Buffer (bytes) or null. */
  export function prepareValue(value: unknown): string | Buffer | null
}
