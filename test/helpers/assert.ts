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

/** The error `promise` rejects with, checked to be a `type` (any Error by default); fails when it resolves. */
export async function rejectionOf<E extends Error = Error>(promise: Promise<unknown>, type: new (...args: never[]) => E = Error as never): Promise<E> {
  try {
    await promise
  } catch (error) {
    expect(error).to.be.instanceOf(type)
    return error as E
  }

  return expect.fail(`expected a rejection with a ${type.name}`)
}
