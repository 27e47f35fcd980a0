/**
 * Turns an uploaded file into text. HR systems and spreadsheets often export in a legacy code page
 * (Windows-1252) or UTF-16 ("Unicode text"); decoding those as UTF-8 would silently garble names
 * like "Łukasz" or "张伟", so anything that is not valid UTF-8 is refused with the line it is on.
 */

export type DecodeResult = { ok: true; text: string } | { ok: false; line: number; reason: string }

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/** Decodes strict UTF-8; a leading byte order mark is dropped (TextDecoder does that unless told not to). */
export function decodeUtf8(body: Buffer): DecodeResult {
  if (
    body.length >= 2 &&
    ((body[0] === 0xff && body[1] === 0xfe) || (body[0] === 0xfe && body[1] === 0xff))
  ) {
    return {
      ok: false,
      line: 1,
      reason: 'the file is UTF-16 ("Unicode text"); save it as "CSV UTF-8" instead',
    }
  }
  try {
    return { ok: true, text: utf8.decode(body) }
  } catch {
    // Only on failure do we walk the bytes ourselves, to tell the admin where the bad byte is.
    const offset = firstInvalidUtf8Offset(body)
    const at = offset === -1 ? 0 : offset
    const byte = (body[at] ?? 0).toString(16).toUpperCase().padStart(2, '0')
    return {
      ok: false,
      line: lineOfByte(body, at),
      reason: `the file is not UTF-8 (byte 0x${byte}); save it as "CSV UTF-8" instead`,
    }
  }
}

/** The offset of the first byte that starts an invalid UTF-8 sequence (Unicode Table 3-7), or -1. */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  const n = bytes.length
  let i = 0
  while (i < n) {
    const b = bytes[i] ?? 0
    if (b < 0x80) {
      i++
      continue
    }
    let need: number
    let lo = 0x80
    let hi = 0xbf
    if (b >= 0xc2 && b <= 0xdf) need = 1
    else if (b === 0xe0) [need, lo] = [2, 0xa0]
    else if (b === 0xed)
      [need, hi] = [2, 0x9f] // would encode a UTF-16 surrogate
    else if (b >= 0xe1 && b <= 0xef) need = 2
    else if (b === 0xf0) [need, lo] = [3, 0x90]
    else if (b >= 0xf1 && b <= 0xf3) need = 3
    else if (b === 0xf4)
      [need, hi] = [3, 0x8f] // beyond U+10FFFF otherwise
    else return i
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k]
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i
    }
    i += need + 1
  }
  return -1
}

/** The 1-based physical line holding byte `offset`, counting CRLF, LF and a lone CR as one break each. */
function lineOfByte(bytes: Uint8Array, offset: number): number {
  let line = 1
  for (let i = 0; i < offset; i++) {
    const b = bytes[i]
    if (b === 0x0a || (b === 0x0d && bytes[i + 1] !== 0x0a)) line++
  }
  return line
}
