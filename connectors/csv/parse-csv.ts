import { decodeUtf8 } from './decode-utf8'

/**
 * An RFC 4180 CSV reader of our own: HR files are small enough to hold in memory (100,000 rows is a
 * few MB), but they come from many exporters, so the reader is strict about structure and precise
 * about where a problem is. One pass over the text with charCodeAt and indexOf; no per-character regex.
 */

export interface CsvRecord {
  /** The physical line the record starts on (1-based, counting blank lines and lines inside quotes). */
  line: number
  fields: string[]
}

export interface CsvSyntaxError {
  /** The physical line the problem is on. */
  line: number
  reason: string
}

export interface ParsedCsv {
  /** The first non-empty record, or null when the file has none (or could not be read at all). */
  header: CsvRecord | null
  rows: CsvRecord[]
  /** Structural problems. A record with one is left out of `rows`; reading resumes on the next line. */
  errors: CsvSyntaxError[]
}

export interface ParseCsvOptions {
  /** One character; default ",". Excel in many European locales writes ";". */
  delimiter?: string
}

const QUOTE = 0x22
const CR = 0x0d
const LF = 0x0a

/** Reads an uploaded file: strict UTF-8 (a BOM is dropped), then CSV. */
export function parseCsv(body: Buffer, options: ParseCsvOptions = {}): ParsedCsv {
  const decoded = decodeUtf8(body)
  if (!decoded.ok) return { header: null, rows: [], errors: [{ line: decoded.line, reason: decoded.reason }] }
  return parseCsvText(decoded.text, options)
}

/** Reads CSV text. CRLF, LF and lone CR all end a line; completely empty lines are skipped. */
export function parseCsvText(text: string, options: ParseCsvOptions = {}): ParsedCsv {
  const delimiter = options.delimiter ?? ','
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\r' || delimiter === '\n') {
    throw new RangeError(
      `the CSV delimiter must be one character other than a quote or line break, not "${delimiter}"`,
    )
  }
  const d = delimiter.charCodeAt(0)
  const n = text.length
  const records: CsvRecord[] = []
  const errors: CsvSyntaxError[] = []
  let i = 0
  let line = 1

  /** Drops the rest of a broken record's physical line so the next record can still be read. */
  const skipToNextLine = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === LF || c === CR) break
      i++
    }
  }

  records: while (i < n) {
    const first = text.charCodeAt(i)
    if (first === LF || first === CR) {
      i += first === CR && text.charCodeAt(i + 1) === LF ? 2 : 1
      line++
      continue
    }
    const recordLine = line
    const fields: string[] = []
    for (;;) {
      if (text.charCodeAt(i) === QUOTE) {
        const quoteLine = line
        let value = ''
        let from = i + 1
        for (;;) {
          const close = text.indexOf('"', from)
          if (close === -1) {
            errors.push({
              line: quoteLine,
              reason:
                'a quoted field starts here and is never closed: add the closing " (a " inside a quoted field is written "")',
            })
            // Everything after an unclosed quote belongs to that field, so nothing more can be read.
            break records
          }
          line += countLineBreaks(text, from, close)
          if (text.charCodeAt(close + 1) === QUOTE) {
            value += text.slice(from, close + 1)
            from = close + 2
            continue
          }
          value += text.slice(from, close)
          i = close + 1
          break
        }
        fields.push(value)
        const after = text.charCodeAt(i)
        if (i < n && after !== d && after !== CR && after !== LF) {
          errors.push({
            line,
            reason: 'text follows a closing quote: quote the whole field, and write a " inside it as ""',
          })
          skipToNextLine()
          continue records
        }
      } else {
        const start = i
        while (i < n) {
          const c = text.charCodeAt(i)
          if (c === d || c === CR || c === LF || c === QUOTE) break
          i++
        }
        if (i < n && text.charCodeAt(i) === QUOTE) {
          errors.push({
            line,
            reason:
              'a " in the middle of an unquoted field: quote the whole field, and write a " inside it as ""',
          })
          skipToNextLine()
          continue records
        }
        fields.push(text.slice(start, i))
      }
      if (i >= n) break
      const c = text.charCodeAt(i)
      if (c === d) {
        i++
        continue
      }
      // A line break ends the record.
      i += c === CR && text.charCodeAt(i + 1) === LF ? 2 : 1
      line++
      break
    }
    records.push({ line: recordLine, fields })
  }

  const [header = null, ...rows] = records
  // A header that is itself broken is not in `records`; a later record must not stand in for it.
  if (header !== null && errors.length > 0 && (errors[0]?.line ?? Infinity) < header.line) {
    return { header: null, rows: [], errors }
  }
  return { header, rows, errors }
}

/** Line breaks between start (inclusive) and end (exclusive): CRLF, LF and a lone CR count once each. */
function countLineBreaks(text: string, start: number, end: number): number {
  let count = 0
  for (let k = start; k < end; k++) {
    const c = text.charCodeAt(k)
    if (c === LF || (c === CR && text.charCodeAt(k + 1) !== LF)) count++
  }
  return count
}
