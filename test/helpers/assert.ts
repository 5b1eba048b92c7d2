import {expect} from 'chai'

import {UserError} from '../../src/errors.js'

/** The promise rejects with a UserError whose one-line message matches. */
export async function expectUserRejection(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise
  } catch (error) {
    expect(error).to.be.instanceOf(UserError)
    expect((error as Error).message).to.match(pattern)
    expect((error as Error).message).to.not.include('\n')
    return
  }

  expect.fail(`expected a rejection matching ${pattern}`)
}
