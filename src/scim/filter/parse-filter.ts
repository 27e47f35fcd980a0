import {
  COMPARE_OPERATORS,
  type AttributePath,
  type CompareOperator,
  type ComparisonValue,
  type FilterNode,
  type PatchPath,
} from './filter-ast'
import { ScimFilterError } from './scim-filter-error'
import { abbreviate, describeToken, SyntaxContext, tokenize, type Token } from './tokenize-filter'

export { ScimFilterError }

/**
 * Our own recursive-descent parser for RFC 7644 §3.4.2.2 (SCIMMY's accepts `userName eq` with no
 * value and rejects `a and (b or not (c))`; see ../shared/DESIGN.md §6):
 *
 *   FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
 *   valuePath = attrPath "[" valFilter "]"
 *   valFilter = attrExp / logExp / *1"not" "(" valFilter ")"
 *   attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
 *   logExp    = FILTER SP ("and" / "or") SP FILTER
 *   attrPath  = [URI ":"] ATTRNAME *1subAttr
 *
 * "and" binds tighter than "or"; operators and keywords are case-insensitive; whitespace may be any
 * run of spaces (the RFC says one SP, clients are not always that tidy). Positions in errors are
 * 0-based offsets into the text.
 */
export function parseFilter(text: string): FilterNode {
  const ctx = new SyntaxContext(text, 'invalidFilter')
  const parser = new FilterParser(ctx, checkedTokens(ctx))
  if (parser.peek().kind === 'eof') ctx.fail(0, 'the filter is empty')
  const node = parser.parseOr(false)
  parser.expectEnd()
  return node
}

/**
 * A PATCH operation's path (RFC 7644 §3.5.2): `PATH = attrPath / valuePath [subAttr]`, e.g.
 * `members`, `name.familyName`, `emails[type eq "work"]`, `emails[type eq "work"].value`.
 */
export function parsePatchPath(text: string): PatchPath {
  const ctx = new SyntaxContext(text, 'invalidPath')
  const parser = new FilterParser(ctx, checkedTokens(ctx))
  const first = parser.next()
  if (first.kind !== 'word')
    ctx.fail(first.position, `expected an attribute path, found ${describeToken(first)}`)
  const path = parser.attributePath(first)
  let filter: FilterNode | undefined
  let subAttr: string | undefined
  if (parser.peek().kind === '[') {
    filter = parser.valueFilter(path)
    const after = parser.peek()
    if (after.kind === 'word' && after.text.startsWith('.')) {
      parser.next()
      subAttr = after.text.slice(1)
      if (!SUB_ATTR_NAME.test(subAttr)) {
        ctx.fail(after.position, `"${abbreviate(after.text)}" is not a sub-attribute (expected ".name")`)
      }
    }
  }
  parser.expectEnd()
  return { path, filter, subAttr }
}

/** Longer texts are refused before parsing; SQL and memory stay bounded per request. */
export const MAX_FILTER_LENGTH = 65_536
/** Deeper nesting is refused instead of overflowing the stack on `((((…`. */
export const MAX_FILTER_DEPTH = 64

const ATTR_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/
/** `$ref` is not an ATTRNAME by the ABNF, but RFC 7643 uses it as a sub-attribute (members.$ref). */
const SUB_ATTR_NAME = /^(?:[A-Za-z][A-Za-z0-9_-]*|\$ref)$/
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/
const OPERATOR_LIST = 'eq, ne, co, sw, ew, gt, ge, lt, le or pr'

function checkedTokens(ctx: SyntaxContext): Token[] {
  if (ctx.text.length > MAX_FILTER_LENGTH) {
    ctx.fail(MAX_FILTER_LENGTH, `longer than ${MAX_FILTER_LENGTH} characters`)
  }
  return tokenize(ctx)
}

function isKeyword(token: Token, keyword: string): boolean {
  return token.kind === 'word' && token.text.toLowerCase() === keyword
}

class FilterParser {
  private index = 0
  private depth = 0

  constructor(
    private readonly ctx: SyntaxContext,
    private readonly tokens: readonly Token[],
  ) {}

  peek(offset = 0): Token {
    // tokenize() always ends with eof, so clamping keeps peek total.
    const token = this.tokens[Math.min(this.index + offset, this.tokens.length - 1)]
    if (!token) throw new Error('tokenize() returned no tokens')
    return token
  }

  next(): Token {
    const token = this.peek()
    if (this.index < this.tokens.length - 1) this.index++
    return token
  }

  expectEnd(): void {
    const token = this.peek()
    if (token.kind === 'eof') return
    if (token.kind === ')') this.ctx.fail(token.position, 'unbalanced ")": there is no "(" to close')
    if (token.kind === ']') this.ctx.fail(token.position, 'unbalanced "]": there is no "[" to close')
    this.ctx.fail(token.position, `unexpected ${describeToken(token)} after a complete expression`)
  }

  /** `inValue`: inside `attr[...]`, where paths are sub-attributes and value paths cannot nest. */
  parseOr(inValue: boolean): FilterNode {
    const filters = [this.parseAnd(inValue)]
    while (isKeyword(this.peek(), 'or')) {
      this.next()
      filters.push(this.parseAnd(inValue))
    }
    return filters.length === 1 && filters[0] ? filters[0] : { kind: 'or', filters }
  }

  private parseAnd(inValue: boolean): FilterNode {
    const filters = [this.parseUnary(inValue)]
    while (isKeyword(this.peek(), 'and')) {
      this.next()
      filters.push(this.parseUnary(inValue))
    }
    return filters.length === 1 && filters[0] ? filters[0] : { kind: 'and', filters }
  }

  private parseUnary(inValue: boolean): FilterNode {
    const token = this.peek()
    if (token.kind === '(') {
      this.next()
      return this.group(token, inValue)
    }
    if (isKeyword(token, 'not')) {
      this.next()
      const open = this.next()
      if (open.kind !== '(') {
        this.ctx.fail(
          open.position,
          `expected "(" after "not" (write not (filter)), found ${describeToken(open)}`,
        )
      }
      return { kind: 'not', filter: this.group(open, inValue) }
    }
    if (isKeyword(token, 'and') || isKeyword(token, 'or')) {
      this.ctx.fail(token.position, `expected an attribute path, "not" or "(" before "${token.text}"`)
    }
    if (token.kind === 'word') return this.attributeExpression(inValue)
    return this.ctx.fail(
      token.position,
      `expected an attribute path, "not" or "(", found ${describeToken(token)}`,
    )
  }

  /** The rest of a parenthesised filter whose "(" was `open`. */
  private group(open: Token, inValue: boolean): FilterNode {
    if (++this.depth > MAX_FILTER_DEPTH) {
      this.ctx.fail(open.position, `nested more than ${MAX_FILTER_DEPTH} levels deep`)
    }
    const node = this.parseOr(inValue)
    const close = this.next()
    if (close.kind === 'eof')
      this.ctx.fail(close.position, `missing ")" to close the "(" at position ${open.position}`)
    if (close.kind !== ')')
      this.ctx.fail(close.position, `expected "and", "or" or ")", found ${describeToken(close)}`)
    this.depth--
    return node
  }

  private attributeExpression(inValue: boolean): FilterNode {
    const pathToken = this.next()
    const path = this.attributePath(pathToken)
    const token = this.peek()
    if (token.kind === '[') {
      if (inValue) {
        this.ctx.fail(
          token.position,
          'value filters cannot nest (a filter inside [...] names sub-attributes only)',
        )
      }
      const filter = this.valueFilter(path)
      const after = this.peek()
      if (after.kind === 'word' && after.text.startsWith('.')) {
        // Not in RFC 7644's grammar, but Microsoft Entra ID sends it when email is a matching
        // attribute: `emails[type eq "work"].value eq "x"` means `emails[type eq "work" and value eq "x"]`.
        this.next()
        const sub = after.text.slice(1)
        if (!/^[A-Za-z$][\w$-]*$/.test(sub))
          this.ctx.fail(after.position, `"${abbreviate(after.text)}" is not a sub-attribute name`)
        const condition = this.comparison({ name: sub, position: after.position + 1 }, after)
        const filters = filter.kind === 'and' ? [...filter.filters, condition] : [filter, condition]
        return { kind: 'valuePath', path, filter: { kind: 'and', filters } }
      }
      return { kind: 'valuePath', path, filter }
    }
    return this.comparison(path, pathToken)
  }

  /** The operator and value after an attribute path: `op value`, or `pr`. */
  private comparison(path: AttributePath, pathToken: Token): FilterNode {
    const token = this.peek()
    if (token.kind !== 'word') {
      return this.ctx.fail(
        token.position,
        `expected a comparison operator after "${abbreviate(pathToken.text)}"`,
      )
    }
    this.next()
    const op = token.text.toLowerCase()
    if (op === 'pr') {
      const after = this.peek()
      if (
        after.kind === 'string' ||
        (after.kind === 'word' && !isKeyword(after, 'and') && !isKeyword(after, 'or'))
      ) {
        this.ctx.fail(after.position, `"pr" takes no comparison value, found ${describeToken(after)}`)
      }
      return { kind: 'present', path }
    }
    if (!isCompareOperator(op)) {
      return this.ctx.fail(
        token.position,
        `unknown operator "${abbreviate(token.text)}" after "${abbreviate(pathToken.text)}" (expected ${OPERATOR_LIST})`,
      )
    }
    return { kind: 'compare', path, op, value: this.comparisonValue(token) }
  }

  /** `[valFilter]` after `path`; the "[" is the next token. */
  valueFilter(path: AttributePath): FilterNode {
    const open = this.next()
    if (path.subAttr !== undefined) {
      this.ctx.fail(
        open.position,
        `a value filter follows a multi-valued attribute, not the sub-attribute "${path.name}.${path.subAttr}"`,
      )
    }
    const filter = this.parseOr(true)
    const close = this.next()
    if (close.kind === 'eof')
      this.ctx.fail(close.position, `missing "]" to close the "[" at position ${open.position}`)
    if (close.kind !== ']')
      this.ctx.fail(close.position, `expected "and", "or" or "]", found ${describeToken(close)}`)
    return filter
  }

  private comparisonValue(opToken: Token): ComparisonValue {
    const token = this.next()
    if (token.kind === 'string') return token.value
    if (token.kind === 'word') {
      const word = token.text.toLowerCase()
      if (word === 'true') return true
      if (word === 'false') return false
      if (word === 'null') return null
      if (JSON_NUMBER.test(token.text)) {
        const value = Number(token.text)
        if (!Number.isFinite(value))
          this.ctx.fail(token.position, `the number ${abbreviate(token.text)} is out of range`)
        return value
      }
    }
    if (token.kind === 'eof') {
      return this.ctx.fail(token.position, `expected a comparison value after "${opToken.text}"`)
    }
    return this.ctx.fail(
      token.position,
      `expected a comparison value after "${opToken.text}" (a string in double quotes, a number, true, ` +
        `false or null), found ${describeToken(token)}`,
    )
  }

  /** `[URI ":"] ATTRNAME ["." subAttr]`: the URI is everything before the last colon. */
  attributePath(token: Token): AttributePath {
    const text = token.text
    const colon = text.lastIndexOf(':')
    const uri = colon >= 0 ? text.slice(0, colon) : undefined
    const parts = text.slice(colon + 1).split('.')
    const [name = '', subAttr, ...extra] = parts
    const bad = (why: string): never => this.ctx.fail(token.position, `"${abbreviate(text)}" ${why}`)
    if (uri === '') bad('has an empty schema URI before ":"')
    if (extra.length > 0) bad('has more than one sub-attribute (an attribute path is attr or attr.subAttr)')
    if (!ATTR_NAME.test(name)) {
      bad('is not an attribute path (a name starts with a letter and has letters, digits, "-" or "_")')
    }
    if (subAttr !== undefined && !SUB_ATTR_NAME.test(subAttr))
      bad(`has an invalid sub-attribute name "${subAttr}"`)
    return { uri, name, subAttr, position: token.position }
  }
}

function isCompareOperator(op: string): op is CompareOperator {
  return (COMPARE_OPERATORS as readonly string[]).includes(op)
}
