// Argument checks shared by every public entry point, run before anything reaches the
// addon. Each throws Node's own error codes; `caller` is the public function to blame
// in the stack trace.
import { invalidArgType, outOfRange } from './errors.js';

export function validateOptions(value: unknown, argName: string, caller: Function): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw invalidArgType(argName, 'of type object', value, caller);
  return value as Record<string, unknown>;
}

export function validateBoolean(value: unknown, argName: string, caller: Function): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalidArgType(argName, 'of type boolean', value, caller);
  return value;
}

export function validateInteger(value: unknown, argName: string, min: number, max: number, caller: Function): number {
  if (typeof value !== 'number') throw invalidArgType(argName, 'of type number', value, caller);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(argName, `an integer >= ${min} and <= ${max}`, value, caller);
  }
  return value;
}

/** A time-out in ms: undefined is no limit; otherwise a number >= 0 (Infinity allowed). */
export function validateTimeout(value: unknown, caller: Function): number {
  if (value === undefined) return Infinity;
  if (typeof value !== 'number') throw invalidArgType('options.timeout', 'of type number', value, caller);
  if (!(value >= 0)) throw outOfRange('options.timeout', '>= 0 (or Infinity)', value, caller);
  return value;
}

/** An optional AbortSignal. */
export function validateSignal(value: unknown, caller: Function): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', value, caller);
  }
  return value;
}

/** Options of every blocking wait (`acquire`, `wait`, `put`, `get`, …). */
export interface AcquireOptions {
  /** Give up after this many milliseconds (default: wait as long as it takes). */
  timeout?: number | undefined;
}

/** Options of every async wait (`acquireAsync`, `waitAsync`, `putAsync`, …). */
export interface AcquireAsyncOptions extends AcquireOptions {
  /** Aborting it rejects the pending call with `signal.reason`. */
  signal?: AbortSignal | undefined;
}

/** The options of every blocking wait, checked: its `timeout`, falling back to `defaultTimeout`. */
export function timeoutOption(options: unknown, caller: Function, defaultTimeout = Infinity): number {
  if (options === undefined) return defaultTimeout;
  const { timeout } = validateOptions(options, 'options', caller);
  return timeout === undefined ? defaultTimeout : validateTimeout(timeout, caller);
}

/**
 * The options of every async wait, checked: `{ timeout, signal }`, the time-out falling
 * back to `defaultTimeout`. Rejects at once (with the signal's reason) if already aborted.
 */
export function validateAsyncOptions(options: unknown, caller: Function, defaultTimeout = Infinity):
  { timeout: number; signal: AbortSignal | undefined } {
  const opts = validateOptions(options, 'options', caller);
  const timeout = opts.timeout === undefined ? defaultTimeout : validateTimeout(opts.timeout, caller);
  const signal = validateSignal(opts.signal, caller);
  signal?.throwIfAborted();
  return { timeout, signal };
}
