/** One problem in an HR file, as the admin will see it. */
export interface CsvRowError {
  /** The CSV line number (1 = the header); for a record spanning lines, the line it starts on. */
  row: number
  /** The file's own header name of the column at fault, or null when the whole row is. */
  column: string | null
  reason: string
}
