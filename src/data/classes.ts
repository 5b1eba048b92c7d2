/**
 * The digits a model knows: a setting of its run (`--classes`), carried by its
 * checkpoint, and read from there by everything downstream. Always in
 * ascending order, which is the order of the logits and of every probability
 * vector.
 */
import {type ClassLabel, DIGITS} from '../config.js'
import {UserError} from '../errors.js'

/** The fewest classes a model can tell apart. */
export const MIN_CLASSES = 2

/** Whether `value` is a valid class list: distinct digits 0–9 in ascending order, at least two. */
export function isClassList(value: readonly number[]): boolean {
  return value.length >= MIN_CLASSES && value.every((digit, i) => Number.isInteger(digit) && digit >= 0 && digit <= 9 && (i === 0 || digit > value[i - 1]))
}

/**
 * Parse `2,4,6`, `0-9`, `3,7`, `0-4,9` (ranges and single digits, in any
 * order): distinct digits, sorted, at least two.
 */
export function parseClasses(text: string): ClassLabel[] {
  const digits = new Set<number>()
  for (const part of text.split(',').map((p) => p.trim())) {
    const match = /^(\d)(?:\s*-\s*(\d))?$/.exec(part)
    if (!match) throw new UserError(`"${part}" is not a digit or a range of digits (e.g. 3,7 or 0-9)`, {setting: 'classes'})
    const from = Number(match[1])
    const to = match[2] === undefined ? from : Number(match[2])
    if (to < from) throw new UserError(`the range "${part}" runs backwards; write ${to}-${from}`, {setting: 'classes'})
    for (let digit = from; digit <= to; digit++) {
      if (digits.has(digit)) throw new UserError(`digit ${digit} is given twice`, {setting: 'classes'})
      digits.add(digit)
    }
  }

  const classes = [...digits].sort((a, b) => a - b)
  if (classes.length < MIN_CLASSES) throw new UserError(`give at least ${MIN_CLASSES} digits (e.g. 3,7), got ${text}`, {setting: 'classes'})
  return classes
}

/** `2,4,6`; all ten as `0-9`. */
export function formatClasses(classes: readonly ClassLabel[]): string {
  return classes.length === DIGITS.length ? `0-${DIGITS.length - 1}` : classes.join(',')
}

/** The data set a run draws from, as its artifacts name it: `mnist_37` for the digits 3 and 7, `mnist` for all ten. */
export function datasetName(classes: readonly ClassLabel[]): string {
  return classes.length === DIGITS.length ? 'mnist' : `mnist_${classes.join('')}`
}

export function sameClasses(a: readonly ClassLabel[], b: readonly ClassLabel[]): boolean {
  return a.length === b.length && a.every((digit, i) => digit === b[i])
}
