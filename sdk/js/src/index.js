// @ts-check
/**
 * @module @exorun/sdk
 *
 * Write Exchange Online automations in JavaScript for the exorun sandbox.
 *
 * An automation is an ES module that exports `run`. It reaches the tenant
 * only through cmdlet calls, each of which the host checks against the
 * plugin's `exorun.toml` before it leaves the host. It never sees a
 * credential, the network, a file or the environment.
 *
 * The concepts, in the order every exorun SDK documents them:
 *
 * 1. Run: `export function run()` (or `async function`); its return value
 *    is the output, a thrown error fails the run with the error's message.
 * 2. Call a cmdlet: `invoke("Get-Mailbox", { Identity: "ann" })`.
 * 3. Read pages lazily: `for (const m of cmdlet("Get-Mailbox", { ResultSize: "Unlimited" }))`.
 * 4. Batch: `invokeMany([...])` runs many calls concurrently on the host.
 * 5. Handle errors: `CmdletError` and its subclasses say why a call failed.
 * 6. Log, progress, inputs: `log.info(...)`, `progress(done, total)`, `input(name)`.
 *
 * Every host call is synchronous: the component blocks while the host talks
 * to Exchange. `async` code works (the engine drains its event loop before
 * `run` returns), but concurrency comes from `invokeMany`, not from promises.
 */

import * as cmdlets from 'exorun:automation/cmdlets@0.1.0';
import * as host from 'exorun:automation/host@0.1.0';
import { get as getInput } from 'exorun:automation/inputs@0.1.0';

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * Why a cmdlet call failed. One subclass per case of the WIT `cmdlet-error`
 * variant, so that code matches with `instanceof` instead of parsing
 * messages. The messages are the same as the Rust SDK's, so an operator sees
 * the same text whichever language a plugin is written in.
 */
export class CmdletError extends Error {
  /**
   * @param {string} message
   * @param {string} [cmdlet] the cmdlet whose call failed, when known
   */
  constructor(message, cmdlet) {
    super(message);
    this.name = new.target.name;
    /** The cmdlet whose call failed (for logs); `undefined` if unknown. */
    this.cmdlet = cmdlet;
  }
}

/** The plugin's manifest does not allow the call; it never left the host. */
export class Denied extends CmdletError {
  /**
   * @param {string} rule the manifest rule that refused the call
   * @param {string} detail what to change in exorun.toml to allow it
   * @param {string} [cmdlet]
   */
  constructor(rule, detail, cmdlet) {
    super(`denied (${rule}): ${detail}`, cmdlet);
    this.rule = rule;
    this.detail = detail;
  }
}

/** The object named by Identity (or similar) does not exist. */
export class NotFound extends CmdletError {
  /** @param {string} detail @param {string} [cmdlet] */
  constructor(detail, cmdlet) {
    super(`not found: ${detail}`, cmdlet);
    this.detail = detail;
  }
}

/** The identity matched more than one object. */
export class Ambiguous extends CmdletError {
  /** @param {string} detail @param {string} [cmdlet] */
  constructor(detail, cmdlet) {
    super(`ambiguous: ${detail}`, cmdlet);
    this.detail = detail;
  }
}

/** Exchange refused a parameter or its value. */
export class InvalidParameter extends CmdletError {
  /** @param {string} detail @param {string} [cmdlet] */
  constructor(detail, cmdlet) {
    super(`invalid parameter: ${detail}`, cmdlet);
    this.detail = detail;
  }
}

/** The tenant's own RBAC refused the app. */
export class Forbidden extends CmdletError {
  /** @param {string} detail @param {string} [cmdlet] */
  constructor(detail, cmdlet) {
    super(`forbidden by the tenant: ${detail}`, cmdlet);
    this.detail = detail;
  }
}

/** The tenant is busy even after the host's retries; wait `retryAfterMs`. */
export class Throttled extends CmdletError {
  /** @param {number} retryAfterMs @param {string} [cmdlet] */
  constructor(retryAfterMs, cmdlet) {
    super(`throttled: retry after ${retryAfterMs} ms`, cmdlet);
    this.retryAfterMs = retryAfterMs;
  }
}

/** A write was sent but its outcome is unknown: check before retrying. */
export class OutcomeUnknown extends CmdletError {
  /** @param {string} detail @param {string} [cmdlet] */
  constructor(detail, cmdlet) {
    super(`outcome unknown: ${detail}`, cmdlet);
    this.detail = detail;
  }
}

/** A limit of this run is exhausted (for example `[limits] max-calls`). */
export class LimitExceeded extends CmdletError {
  /** @param {string} detail @param {string} [cmdlet] */
  constructor(detail, cmdlet) {
    super(`limit exceeded: ${detail}`, cmdlet);
    this.detail = detail;
  }
}

/** Anything else, with Exchange's error code when there is one. */
export class Failed extends CmdletError {
  /** @param {string} code @param {string} detail @param {string} [cmdlet] */
  constructor(code, detail, cmdlet) {
    super(`failed (${code}): ${detail}`, cmdlet);
    this.code = code;
    this.detail = detail;
  }
}

/**
 * Turns the bindings' `ComponentError` (whose `payload` is the WIT variant)
 * into the matching error class; anything else is rethrown untouched.
 * @param {unknown} error
 * @param {string} cmdlet
 * @returns {never}
 */
function rethrow(error, cmdlet) {
  const payload = /** @type {any} */ (error)?.payload;
  if (payload && typeof payload === 'object' && typeof payload.tag === 'string') {
    throw fromWit(payload, cmdlet);
  }
  throw error;
}

/**
 * @param {{tag: string, val: any}} e a WIT `cmdlet-error`
 * @param {string} cmdlet
 * @returns {CmdletError}
 */
function fromWit(e, cmdlet) {
  switch (e.tag) {
    case 'denied':
      return new Denied(e.val.rule, e.val.message, cmdlet);
    case 'not-found':
      return new NotFound(e.val, cmdlet);
    case 'ambiguous':
      return new Ambiguous(e.val, cmdlet);
    case 'invalid-parameter':
      return new InvalidParameter(e.val, cmdlet);
    case 'forbidden':
      return new Forbidden(e.val, cmdlet);
    case 'throttled':
      return new Throttled(Number(e.val), cmdlet);
    case 'outcome-unknown':
      return new OutcomeUnknown(e.val, cmdlet);
    case 'limit-exceeded':
      return new LimitExceeded(e.val, cmdlet);
    case 'failed':
      return new Failed(e.val.code, e.val.message, cmdlet);
    default:
      // A newer host with a case this SDK does not know: keep the text.
      return new Failed(String(e.tag), JSON.stringify(e.val), cmdlet);
  }
}

// ---------------------------------------------------------------------------
// Parameter values
// ---------------------------------------------------------------------------

/** @typedef {import('exorun:automation/cmdlets@0.1.0').Leaf} WitLeaf */
/** @typedef {import('exorun:automation/cmdlets@0.1.0').Value} WitValue */
/** @typedef {import('exorun:automation/cmdlets@0.1.0').Call} WitCall */

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/**
 * Maps a JS value to a WIT `leaf` (the values allowed inside a table),
 * refusing anything PowerShell would not bind, so a typo fails here with
 * the parameter's name instead of as a puzzling Exchange error.
 * @param {unknown} value
 * @param {string} where the parameter, for messages
 * @returns {WitLeaf}
 */
function leaf(value, where) {
  if (value === null) return { tag: 'null' };
  switch (typeof value) {
    case 'boolean':
      return { tag: 'boolean', val: value };
    case 'string':
      return { tag: 'text', val: value };
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new TypeError(
          `${where}: ${value} is not an integer exorun can pass exactly; use an integer (or a bigint) or a string`,
        );
      }
      return { tag: 'integer', val: BigInt(value) };
    case 'bigint':
      if (value < I64_MIN || value > I64_MAX) {
        throw new TypeError(`${where}: ${value} does not fit in a 64-bit integer`);
      }
      return { tag: 'integer', val: value };
  }
  if (Array.isArray(value)) {
    const bad = value.findIndex((v) => typeof v !== 'string');
    if (bad >= 0) {
      throw new TypeError(
        `${where}: a list must hold only strings, but item ${bad} is ${describe(value[bad])}`,
      );
    }
    return { tag: 'texts', val: value.slice() };
  }
  throw new TypeError(`${where}: cannot pass ${describe(value)} to a cmdlet`);
}

/**
 * Maps a JS value to a WIT `value`: a leaf, or a plain object as a
 * hashtable edit such as `{ Add: "a@contoso.com", Remove: ["b@contoso.com"] }`.
 * @param {unknown} value
 * @param {string} where
 * @returns {WitValue}
 */
function toValue(value, where) {
  if (isPlainObject(value)) {
    return {
      tag: 'table',
      val: Object.entries(/** @type {object} */ (value))
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => /** @type {[string, WitLeaf]} */ ([k, leaf(v, `${where}.${k}`)])),
    };
  }
  return leaf(value, where);
}

/** @param {unknown} value */
function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** @param {unknown} value */
function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return `${typeof value} ${String(value)}`;
}

/**
 * Builds the WIT `call` record. `undefined` parameters are left out, so
 * optional parameters can be written inline (`{ Filter: filter }`).
 * @param {string} name
 * @param {Record<string, unknown>} params
 * @returns {WitCall}
 */
function toCall(name, params) {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError(`the cmdlet name must be a non-empty string, not ${describe(name)}`);
  }
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new TypeError(
      `${name}: parameters must be an object such as { Identity: "ann@contoso.com" }, not ${describe(params)}`,
    );
  }
  return {
    cmdlet: name,
    parameters: Object.entries(params)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => /** @type {[string, WitValue]} */ ([k, toValue(v, `${name} -${k}`)])),
  };
}

/** @param {string[]} texts one page of objects as JSON text */
function parseAll(texts) {
  return texts.map((t) => JSON.parse(t));
}

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

/**
 * A cmdlet call, built by {@link cmdlet}. Nothing is sent until it is
 * iterated or invoked, and every iteration is a new call (checked and
 * counted on its own).
 */
export class Cmdlet {
  /**
   * @param {string} name
   * @param {Record<string, unknown>} [params]
   */
  constructor(name, params = {}) {
    // Converted now so that a bad value fails where it is written.
    /** @readonly */
    this.call = toCall(name, params);
  }

  /** The cmdlet's name, as written. */
  get name() {
    return this.call.cmdlet;
  }

  /**
   * Runs the call and returns all its output objects. Without `ResultSize`
   * Exchange returns at most 1000 objects; for large reads iterate instead.
   * @returns {Record<string, any>[]}
   */
  invoke() {
    let texts;
    try {
      texts = cmdlets.invoke(this.call);
    } catch (e) {
      rethrow(e, this.name);
    }
    return parseAll(texts);
  }

  /**
   * The result one page at a time, each page an array of objects. Only the
   * current page is held; the host's page reader is released when the
   * pages run out, when a page fails, or when the loop is left early.
   * @returns {Generator<Record<string, any>[], void, undefined>}
   */
  *pages() {
    let reader;
    try {
      reader = cmdlets.openPages(this.call);
    } catch (e) {
      rethrow(e, this.name);
    }
    try {
      for (;;) {
        let page;
        try {
          page = reader.next();
        } catch (e) {
          rethrow(e, this.name);
        }
        if (page === undefined) return;
        yield parseAll(page);
      }
    } finally {
      // The host limits how many resources a run holds; do not wait for GC.
      reader[Symbol.dispose]();
    }
  }

  /**
   * Every object, fetched lazily page by page: `for (const m of cmdlet(...))`.
   * @returns {Generator<Record<string, any>, void, undefined>}
   */
  *[Symbol.iterator]() {
    for (const page of this.pages()) yield* page;
  }

  /**
   * The same objects for `for await`. The host call is still synchronous;
   * this exists so async code reads naturally, not to overlap calls.
   * @returns {AsyncGenerator<Record<string, any>, void, undefined>}
   */
  async *[Symbol.asyncIterator]() {
    for (const page of this.pages()) yield* page;
  }
}

/**
 * Starts a call: `cmdlet("Get-Mailbox", { ResultSize: "Unlimited" })`.
 * Iterate it for a lazy, paged read, or call `.invoke()`.
 *
 * Parameter values: `null` is `$null`, booleans are switches and flags
 * (`{ Confirm: false }`), integers are numbers or bigints, strings are
 * text, string arrays are multi-value lists, and a plain object is an
 * Add/Remove edit (`{ EmailAddresses: { Add: "x@contoso.com" } }`).
 * `undefined` leaves the parameter out.
 * @param {string} name
 * @param {Record<string, unknown>} [params]
 */
export function cmdlet(name, params = {}) {
  return new Cmdlet(name, params);
}

/**
 * Runs one cmdlet and returns its output objects (at most 1000 unless
 * `ResultSize` says otherwise).
 * @param {string} name
 * @param {Record<string, unknown>} [params]
 */
export function invoke(name, params = {}) {
  return new Cmdlet(name, params).invoke();
}

/**
 * Runs calls concurrently on the host and returns one settled result per
 * call, in order, shaped like `Promise.allSettled`'s: each call is checked
 * on its own, so one denied or missing object does not fail the others.
 * @param {Cmdlet[]} calls built with {@link cmdlet}
 * @returns {({status: 'fulfilled', value: Record<string, any>[]} | {status: 'rejected', reason: CmdletError})[]}
 */
export function invokeMany(calls) {
  if (!Array.isArray(calls) || calls.some((c) => !(c instanceof Cmdlet))) {
    throw new TypeError('invokeMany takes an array of calls built with cmdlet(name, params)');
  }
  if (calls.length === 0) return [];
  const results = cmdlets.invokeMany(calls.map((c) => c.call));
  return results.map((r, /** @type {number} */ i) =>
    r.tag === 'ok'
      ? { status: 'fulfilled', value: parseAll(r.val) }
      : { status: 'rejected', reason: fromWit(r.val, calls[i].name) },
  );
}

// ---------------------------------------------------------------------------
// Log, progress, inputs
// ---------------------------------------------------------------------------

/**
 * Formats log arguments the way `console.log` would: strings as written,
 * errors with their stack, everything else as JSON.
 * @param {unknown[]} args
 */
function format(args) {
  return args
    .map((a) => {
      if (typeof a === 'string') return a;
      if (a instanceof Error) return a.stack ? `${a}\n${a.stack}` : String(a);
      if (typeof a === 'bigint') return `${a}n`;
      if (typeof a === 'object' && a !== null) {
        try {
          return JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
        } catch {
          return String(a);
        }
      }
      return String(a);
    })
    .join(' ');
}

/** @param {'debug'|'info'|'warn'|'error'} level */
const logAt =
  (level) =>
  /** @param {unknown[]} args */
  (...args) =>
    host.log(level, format(args));

/**
 * Writes one line to the run log (the host caps its size per run).
 * `console.log` and friends write here too.
 */
export const log = Object.freeze({
  debug: logAt('debug'),
  info: logAt('info'),
  warn: logAt('warn'),
  error: logAt('error'),
});

// The engine is built without stdio (stdio would pull in a filesystem
// import), so console output would vanish; send it to the run log instead.
for (const [method, level] of /** @type {const} */ ([
  ['debug', 'debug'],
  ['log', 'info'],
  ['info', 'info'],
  ['warn', 'warn'],
  ['error', 'error'],
])) {
  try {
    Object.defineProperty(globalThis.console, /** @type {string} */ (method), {
      value: logAt(level),
      writable: true,
      configurable: true,
    });
  } catch {
    // A frozen console keeps its own behaviour; the SDK's `log` still works.
  }
}

/**
 * @param {unknown} n
 * @param {string} what
 */
function count(n, what) {
  if (typeof n === 'bigint' && n >= 0n) return n;
  if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) return n;
  throw new TypeError(`progress: ${what} must be a non-negative integer, not ${describe(n)}`);
}

/**
 * Reports progress: `done` of `total` (leave `total` out if unknown). The
 * CLI shows a bar with rate and ETA.
 * @param {number|bigint} done
 * @param {number|bigint} [total]
 */
export function progress(done, total) {
  host.progress(count(done, 'done'), total == null ? undefined : count(total, 'total'));
}

/**
 * True in a what-if run (`exorun run --what-if`): every call that would
 * change the tenant is recorded in a plan instead of being sent, and
 * answers as if it had succeeded. Report such changes as planned, not done.
 * @returns {boolean}
 */
export function whatIf() {
  return host.whatIf() === true;
}

/**
 * The value of an input declared in `exorun.toml` (or its default), typed
 * as declared: string, number (a bigint beyond 2^53), boolean or string
 * array; `undefined` when it is optional and not given, or not declared.
 * @param {string} name
 * @returns {string | number | bigint | boolean | string[] | undefined}
 */
export function input(name) {
  const v = getInput(name);
  if (v === undefined) return undefined;
  if (v.tag === 'integer') {
    const n = Number(v.val);
    return Number.isSafeInteger(n) ? n : v.val;
  }
  return v.val;
}

// ---------------------------------------------------------------------------
// The run export
// ---------------------------------------------------------------------------

const WRAPPED = Symbol.for('exorun.automation');

/**
 * The text the operator sees when `run` throws: a cmdlet error's message
 * as the Rust SDK words it, a plain `Error`'s message, or the error's
 * name and message for the engine's own errors (TypeError, …), whose stack
 * goes to the log because it is a bug rather than a decision.
 * @param {unknown} error
 */
function failureText(error) {
  if (error instanceof CmdletError) return error.message;
  if (error instanceof Error) {
    if (error.name === 'Error') return error.message;
    if (error.stack) host.log('error', `${error.name}: ${error.message}\n${error.stack}`);
    return `${error.name}: ${error.message}`;
  }
  return typeof error === 'string' ? error : format([error]);
}

/**
 * Adapts a plugin's `run` to the component's `run: func() -> result<string, string>`.
 * The build (`build.mjs`) applies it to the entry's `run` export, so plugins
 * just `export function run()`; call it yourself only when componentizing
 * with other tools. The output is the returned string; `undefined` is an
 * empty output, any other value is written as JSON. A thrown error (or a
 * rejected promise) fails the run with its message.
 * @param {() => unknown} run
 * @returns {() => Promise<{tag: 'ok', val: string} | {tag: 'err', val: string}>}
 */
export function automation(run) {
  if (typeof run !== 'function') {
    throw new TypeError(`run must be a function, not ${describe(run)}`);
  }
  if (/** @type {any} */ (run)[WRAPPED]) return /** @type {any} */ (run);
  const wrapped = async () => {
    try {
      const output = await run();
      if (typeof output === 'string') return { tag: 'ok', val: output };
      if (output === undefined) return { tag: 'ok', val: '' };
      return {
        tag: 'ok',
        val: JSON.stringify(output, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2),
      };
    } catch (error) {
      return { tag: 'err', val: failureText(error) };
    }
  };
  Object.defineProperty(wrapped, WRAPPED, { value: true });
  return /** @type {any} */ (wrapped);
}
