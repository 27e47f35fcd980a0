import { StateTokenCodec } from './delta-tokens'

describe('StateTokenCodec', () => {
  const state = {
    kind: 'users' as const,
    type: 'delta' as const,
    at: 42,
    select: ['displayName'],
    pageSize: 100,
  }

  test('round-trips what it encodes, with a growing serial', () => {
    const codec = new StateTokenCodec()
    const first = codec.encode(state)
    const second = codec.encode(state)
    expect(codec.decode(first)).toEqual({ ...state, serial: 1 })
    expect(codec.decode(second)).toEqual({ ...state, serial: 2 })
    expect(first).toMatch(/^[A-Za-z0-9_-]+$/)
  })

  test('is opaque: decoding the base64 reveals none of the state', () => {
    const token = new StateTokenCodec().encode(state)
    const bytes = Buffer.from(token, 'base64url').toString('latin1')
    for (const secret of ['users', 'displayName', '"at"', 'delta']) expect(bytes).not.toContain(secret)
  })

  test('rejects tampered, truncated and foreign tokens', () => {
    const codec = new StateTokenCodec()
    const token = codec.encode(state)
    const payload = Buffer.from(token, 'base64url')
    payload[5] = payload[5]! ^ 1
    expect(codec.decode(payload.toString('base64url'))).toBeNull()
    expect(codec.decode(token.slice(0, -4))).toBeNull()
    expect(codec.decode(new StateTokenCodec().encode(state))).toBeNull()
    expect(codec.decode('not a token!')).toBeNull()
  })
})
