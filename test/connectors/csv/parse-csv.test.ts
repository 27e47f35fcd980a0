import { decodeUtf8, firstInvalidUtf8Offset } from '../../../connectors/csv/decode-utf8'
import { parseCsv, parseCsvText } from '../../../connectors/csv/parse-csv'

const fieldsOf = (text: string, delimiter?: string): string[][] => {
  const parsed = parseCsvText(text, { delimiter })
  expect(parsed.errors).toEqual([])
  return [parsed.header, ...parsed.rows].map((r) => r?.fields ?? [])
}

describe('parseCsvText: records and fields', () => {
  test.each<[string, string, string[][]]>([
    [
      'LF line endings',
      'a,b\n1,2\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'CRLF line endings',
      'a,b\r\n1,2\r\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'lone CR line endings (old Mac exports)',
      'a,b\r1,2\r',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'mixed line endings',
      'a,b\r\n1,2\n3,4\r5,6',
      [
        ['a', 'b'],
        ['1', '2'],
        ['3', '4'],
        ['5', '6'],
      ],
    ],
    [
      'no final line break',
      'a,b\n1,2',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'a delimiter inside quotes',
      'a,b\n"Smith, John",2\n',
      [
        ['a', 'b'],
        ['Smith, John', '2'],
      ],
    ],
    ['a doubled quote inside quotes', 'a\n"say ""hi"""\n', [['a'], ['say "hi"']]],
    ['a field that is only a doubled quote', 'a\n""""\n', [['a'], ['"']]],
    [
      'an empty quoted field',
      'a,b\n"",x\n',
      [
        ['a', 'b'],
        ['', 'x'],
      ],
    ],
    [
      'a LF inside quotes',
      'a,b\n"line 1\nline 2",x\n',
      [
        ['a', 'b'],
        ['line 1\nline 2', 'x'],
      ],
    ],
    [
      'a CRLF inside quotes',
      'a,b\r\n"line 1\r\nline 2",x\r\n',
      [
        ['a', 'b'],
        ['line 1\r\nline 2', 'x'],
      ],
    ],
    [
      'empty fields',
      'a,b,c\n,,\n',
      [
        ['a', 'b', 'c'],
        ['', '', ''],
      ],
    ],
    [
      'a trailing delimiter gives an empty last field',
      'a,b\n1,\n',
      [
        ['a', 'b'],
        ['1', ''],
      ],
    ],
    [
      'a trailing delimiter at the end of the file',
      'a,b\n1,',
      [
        ['a', 'b'],
        ['1', ''],
      ],
    ],
    [
      'spaces are kept (trimming is the mapper’s job)',
      'a, b \n 1 ,2\n',
      [
        ['a', ' b '],
        [' 1 ', '2'],
      ],
    ],
    [
      'blank lines are skipped',
      '\n\na,b\n\r\n\r\n1,2\n\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'non-Latin text',
      '名前,città\n张伟,Łódź\n',
      [
        ['名前', 'città'],
        ['张伟', 'Łódź'],
      ],
    ],
  ])('%s', (_name, text, expected) => {
    expect(fieldsOf(text)).toEqual(expected)
  })

  test.each<[string, string, string, string[][]]>([
    [
      'semicolon (Excel in many European locales)',
      ';',
      'a;b\n"x;y";1,5\n',
      [
        ['a', 'b'],
        ['x;y', '1,5'],
      ],
    ],
    [
      'tab',
      '\t',
      'a\tb\n"x\ty"\t2\n',
      [
        ['a', 'b'],
        ['x\ty', '2'],
      ],
    ],
    [
      'pipe',
      '|',
      'a|b\nx,y|2\n',
      [
        ['a', 'b'],
        ['x,y', '2'],
      ],
    ],
  ])('a configured delimiter: %s', (_name, delimiter, text, expected) => {
    expect(fieldsOf(text, delimiter)).toEqual(expected)
  })

  test('each record carries the physical line it starts on, counting blank lines and lines inside quotes', () => {
    const parsed = parseCsvText('\r\nid,note\r\n1,"two\r\nlines"\r\n\r\n2,"three\nlines\rhere"\n3,x\n')
    expect(parsed.header?.line).toBe(2)
    expect(parsed.rows.map((r) => [r.line, r.fields[0]])).toEqual([
      [3, '1'],
      [6, '2'],
      [9, '3'],
    ])
  })

  test.each(['', '\n', '\r\n\r\n', '\n\n\n'])(
    'a file with no records (%j) has no header and no errors',
    (text) => {
      expect(parseCsvText(text)).toEqual({ header: null, rows: [], errors: [] })
    },
  )

  test.each(['', ',,', '"', '\n', '\r'])('refuses delimiter %j', (delimiter) => {
    expect(() => parseCsvText('a', { delimiter })).toThrow(RangeError)
  })
})

describe('parseCsvText: structural errors', () => {
  test('an unterminated quote is reported on the line where the quote opens, and stops the reading', () => {
    const parsed = parseCsvText('id,note\n1,"ok\nstill ok"\n2,"never closed\n3,x\n4,y\n')
    expect(parsed.rows.map((r) => r.line)).toEqual([2])
    expect(parsed.errors).toEqual([{ line: 4, reason: expect.stringContaining('never closed') }])
  })

  test('a quote in the middle of an unquoted field is reported, and the next line is still read', () => {
    const parsed = parseCsvText('id,name\n1,Jo "JJ" Smith\n2,Ann\n')
    expect(parsed.errors).toEqual([{ line: 2, reason: expect.stringContaining('unquoted field') }])
    expect(parsed.rows).toEqual([{ line: 3, fields: ['2', 'Ann'] }])
  })

  test('text after a closing quote is reported on its physical line', () => {
    const parsed = parseCsvText('id,name\n1,"multi\nline"x\n2,Ann\n')
    expect(parsed.errors).toEqual([{ line: 3, reason: expect.stringContaining('closing quote') }])
    expect(parsed.rows).toEqual([{ line: 4, fields: ['2', 'Ann'] }])
  })

  test('every broken line is reported, not just the first', () => {
    const parsed = parseCsvText('a,b\nx"y,1\nok,2\n"p"q,3\nz"z,4\n')
    expect(parsed.errors.map((e) => e.line)).toEqual([2, 4, 5])
    expect(parsed.rows.map((r) => r.fields)).toEqual([['ok', '2']])
  })

  test('a broken header leaves no header, so no later row is taken for it', () => {
    const parsed = parseCsvText('id,"na"me\n1,Ann\n')
    expect(parsed.header).toBeNull()
    expect(parsed.rows).toEqual([])
    expect(parsed.errors).toHaveLength(1)
    expect(parsed.errors[0]?.line).toBe(1)
  })
})

describe('parseCsv: bytes', () => {
  test('a UTF-8 byte order mark is dropped, so the first header name is clean', () => {
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('employee_id,name\r\nE1,张伟\r\n'),
    ])
    const parsed = parseCsv(body)
    expect(parsed.header?.fields).toEqual(['employee_id', 'name'])
    expect(parsed.rows[0]?.fields).toEqual(['E1', '张伟'])
  })

  test('the delimiter option reaches the parser', () => {
    expect(parseCsv(Buffer.from('a;b\n1;2\n'), { delimiter: ';' }).rows[0]?.fields).toEqual(['1', '2'])
  })

  test('a Windows-1252 file is refused with the line of the first bad byte', () => {
    // "Müller" in Latin-1: ü is the single byte 0xFC, invalid in UTF-8.
    const body = Buffer.concat([
      Buffer.from('id,name\r\nE1,Ann\r\nE2,M'),
      Buffer.from([0xfc]),
      Buffer.from('ller\r\n'),
    ])
    const parsed = parseCsv(body)
    expect(parsed.header).toBeNull()
    expect(parsed.errors).toEqual([
      { line: 3, reason: expect.stringMatching(/not UTF-8 \(byte 0xFC\).*CSV UTF-8/) },
    ])
  })

  test('a UTF-16 file is refused with a hint to save it as CSV UTF-8', () => {
    const body = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('id,name\n', 'utf16le')])
    expect(parseCsv(body).errors).toEqual([{ line: 1, reason: expect.stringContaining('UTF-16') }])
  })
})

describe('UTF-8 validation', () => {
  test.each<[string, number[], number]>([
    ['ASCII', [0x61, 0x62], -1],
    ['2-byte (é)', [0xc3, 0xa9], -1],
    ['3-byte (张)', [0xe5, 0xbc, 0xa0], -1],
    ['4-byte (😀)', [0xf0, 0x9f, 0x98, 0x80], -1],
    ['a lone continuation byte', [0x61, 0x80], 1],
    ['an overlong NUL (C0 80)', [0xc0, 0x80], 0],
    ['an overlong 3-byte form (E0 80 80)', [0xe0, 0x80, 0x80], 0],
    ['an encoded surrogate (ED A0 80)', [0x61, 0xed, 0xa0, 0x80], 1],
    ['beyond U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80], 0],
    ['a truncated sequence at the end', [0x61, 0x62, 0xe5, 0xbc], 2],
    ['a Latin-1 byte', [0x4d, 0xfc, 0x6c], 1],
  ])('%s', (_name, bytes, offset) => {
    const body = Buffer.from(bytes)
    expect(firstInvalidUtf8Offset(body)).toBe(offset)
    // Our locator must agree with the decoder that decides.
    expect(decodeUtf8(body).ok).toBe(offset === -1)
  })

  test('counts CRLF, LF and lone CR when locating the bad byte', () => {
    const result = decodeUtf8(Buffer.concat([Buffer.from('a\r\nb\nc\rd\r\n'), Buffer.from([0xff])]))
    expect(result).toMatchObject({ ok: false, line: 5 })
  })
})

test('reads 100,000 rows in one pass', () => {
  const lines = ['employee_id,name,email,department,note']
  for (let i = 0; i < 100_000; i++) {
    lines.push(`E${i},"Person ${i}",p${i}@example.com,Dept ${i % 50}/Team ${i % 7},"a, ""quoted"" note"`)
  }
  const parsed = parseCsv(Buffer.from(lines.join('\r\n')))
  expect(parsed.errors).toEqual([])
  expect(parsed.rows).toHaveLength(100_000)
  expect(parsed.rows[99_999]).toEqual({
    line: 100_001,
    fields: ['E99999', 'Person 99999', 'p99999@example.com', 'Dept 49/Team 4', 'a, "quoted" note'],
  })
})
