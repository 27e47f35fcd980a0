import { ScimError, type ScimType } from '../../../src/scim/scim-error'

/** What a test expects of a refused request: the status, the scimType, and words of the detail. */
export interface ExpectedScimError {
  readonly status?: number
  readonly scimType: ScimType
  readonly detail: RegExp
}

export function expectScimError(run: () => unknown, expected: ExpectedScimError): void {
  let thrown: unknown
  try {
    run()
  } catch (err) {
    thrown = err
  }
  checkScimError(thrown, expected)
}

export async function expectScimRejection(
  run: () => Promise<unknown>,
  expected: ExpectedScimError,
): Promise<void> {
  let thrown: unknown
  try {
    await run()
  } catch (err) {
    thrown = err
  }
  checkScimError(thrown, expected)
}

function checkScimError(thrown: unknown, expected: ExpectedScimError): void {
  if (!(thrown instanceof ScimError)) {
    throw new Error(`expected a ScimError, got ${thrown === undefined ? 'no error' : String(thrown)}`)
  }
  expect({ status: thrown.status, scimType: thrown.scimType }).toEqual({
    status: expected.status ?? 400,
    scimType: expected.scimType,
  })
  expect(thrown.detail).toMatch(expected.detail)
}
