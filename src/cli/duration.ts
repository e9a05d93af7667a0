/**
 * Durations on the command line (`90s`, `10m`, `1h`, `2d`), parsed by `ms`
 * while commander parses the options.
 *
 * @module
 */
import ms from 'ms'
import { InvalidArgumentError } from 'commander'

/**
 * Milliseconds for a duration with a unit (`500ms`, `90s`, `10m`, `1h`,
 * `2d`, `1w`, `1.5h`, `2 days`). A bare number is refused, since `60` could
 * mean seconds as easily as milliseconds; so is anything not greater than zero.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim()
  if (/^[+-]?\d*\.?\d+$/.test(trimmed)) {
    throw new InvalidArgumentError(`'${text}' has no unit; write for example ${trimmed}s, ${trimmed}m or ${trimmed}ms`)
  }
  const value = trimmed === '' ? undefined : ms(trimmed as ms.StringValue)
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`'${text}' is not a duration; write for example 90s, 10m, 1h or 2d`)
  }
  if (value <= 0) throw new InvalidArgumentError(`'${text}' must be longer than zero`)
  return value
}
