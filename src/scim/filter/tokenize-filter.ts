import { ScimFilterError } from './scim-filter-error'

/**
 * The lexical layer of the filter grammar. Words are maximal runs of anything but whitespace,
 * brackets and quotes; whether a word is an attribute path, an operator, a keyword or a literal
 * depends on where it stands, so the parser decides that, not the tokenizer.
 */
export type Token =
  | { readonly kind: '(' | ')' | '[' | ']' | 'eof'; readonly text: string; readonly position: number }
  | { readonly kind: 'word'; readonly text: string; readonly position: number }
  /** A JSON string literal; `value` is its decoded content. */
  | { readonly kind: 'string'; readonly text: string; readonly value: string; readonly position: number }

/** What the text is (a filter or a PATCH path): decides error wording and scimType. */
export class SyntaxContext {
  constructor(
    readonly text: string,
    readonly scimType: 'invalidFilter' | 'invalidPath',
  ) {}

  fail(position: number, message: string): never {
    const what = this.scimType === 'invalidPath' ? 'path' : 'filter'
    throw new ScimFilterError(`invalid ${what} at position ${position}: ${message}`, this.scimType, position)
  }
}

const PUNCTUATION = new Set(['(', ')', '[', ']'])
const WORD_END = /[\s()[\]"]/

export function tokenize(ctx: SyntaxContext): Token[] {
  const text = ctx.text
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const c = text.charAt(i)
    if (/\s/.test(c)) {
      i++
    } else if (PUNCTUATION.has(c)) {
      tokens.push({ kind: c as '(' | ')' | '[' | ']', text: c, position: i })
      i++
    } else if (c === '"') {
      const end = stringEnd(ctx, i)
      const raw = text.slice(i, end)
      tokens.push({ kind: 'string', text: raw, value: decodeString(ctx, raw, i), position: i })
      i = end
    } else {
      let end = i + 1
      while (end < text.length && !WORD_END.test(text.charAt(end))) end++
      tokens.push({ kind: 'word', text: text.slice(i, end), position: i })
      i = end
    }
  }
  tokens.push({ kind: 'eof', text: '', position: text.length })
  return tokens
}

/** Index just past the closing quote of the string literal opening at `start`. */
function stringEnd(ctx: SyntaxContext, start: number): number {
  const text = ctx.text
  let i = start + 1
  while (i < text.length) {
    const c = text.charAt(i)
    if (c === '\\') i += 2
    else if (c === '"') return i + 1
    else i++
  }
  return ctx.fail(start, `the string starting here is not closed with a double quote`)
}

/** JSON's own rules (RFC 7644 says compValue strings are RFC 7159 strings), escapes included. */
function decodeString(ctx: SyntaxContext, raw: string, position: number): string {
  try {
    return JSON.parse(raw) as string
  } catch {
    return ctx.fail(
      position,
      `${abbreviate(raw)} is not a valid JSON string (check its backslash escapes and control characters)`,
    )
  }
}

export function abbreviate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

/** A token as an error message shows it. */
export function describeToken(token: Token): string {
  if (token.kind === 'eof') return 'the end of the text'
  if (token.kind === 'string') return abbreviate(token.text)
  return `"${abbreviate(token.text)}"`
}
