/**
 * Types of `@exorun/sdk`: write Exchange Online automations in JavaScript
 * for the exorun sandbox. See README.md for the concepts and examples.
 */

/** One output object, as Exchange returns it (a flat JSON object). */
export type ExchangeObject = Record<string, any>;

/** A value inside an Add/Remove edit: anything a parameter takes but a table. */
export type Leaf = null | boolean | number | bigint | string | string[];

/**
 * A parameter value as PowerShell binds it: `null` is `$null`, a boolean a
 * switch or flag, a number or bigint an integer (64-bit), a string text, a
 * string array a multi-value list, and a plain object a hashtable edit such
 * as `{ Add: "a@contoso.com", Remove: ["b@contoso.com"] }`.
 */
export type ParamValue = Leaf | { [key: string]: Leaf | undefined };

/** Parameters by name, without the dash; `undefined` leaves one out. */
export type Params = Record<string, ParamValue | undefined>;

/**
 * A cmdlet call built by {@link cmdlet}. Nothing is sent until it is
 * iterated or invoked; each iteration is a new call.
 */
export class Cmdlet implements Iterable<ExchangeObject>, AsyncIterable<ExchangeObject> {
  constructor(name: string, params?: Params);
  /** The cmdlet's name, as written. */
  readonly name: string;
  /** Runs the call and returns all its output objects (1000 at most without ResultSize). */
  invoke(): ExchangeObject[];
  /** The result one page at a time; only the current page is held. */
  pages(): Generator<ExchangeObject[], void, undefined>;
  /** Every object, fetched lazily page by page. */
  [Symbol.iterator](): Generator<ExchangeObject, void, undefined>;
  /** The same objects for `for await` (host calls stay synchronous). */
  [Symbol.asyncIterator](): AsyncGenerator<ExchangeObject, void, undefined>;
}

/** Starts a call: `cmdlet("Get-Mailbox", { ResultSize: "Unlimited" })`. */
export function cmdlet(name: string, params?: Params): Cmdlet;

/** Runs one cmdlet and returns its output objects. */
export function invoke(name: string, params?: Params): ExchangeObject[];

/** One call's outcome in a batch, shaped like `Promise.allSettled`'s. */
export type Settled =
  | { status: 'fulfilled'; value: ExchangeObject[] }
  | { status: 'rejected'; reason: CmdletError };

/** Runs calls concurrently on the host; one settled result per call, in order. */
export function invokeMany(calls: Cmdlet[]): Settled[];

/** Why a cmdlet call failed; match with `instanceof` on the subclasses. */
export class CmdletError extends Error {
  /** The cmdlet whose call failed, when known. */
  readonly cmdlet: string | undefined;
}
/** The manifest does not allow the call; it never left the host. */
export class Denied extends CmdletError {
  /** The manifest rule that refused it, e.g. `validate-set:Set-Mailbox/ForwardingSmtpAddress`. */
  readonly rule: string;
  /** What to change in exorun.toml to allow it. */
  readonly detail: string;
}
/** The object named by Identity (or similar) does not exist. */
export class NotFound extends CmdletError {
  readonly detail: string;
}
/** The identity matched more than one object. */
export class Ambiguous extends CmdletError {
  readonly detail: string;
}
/** Exchange refused a parameter or its value. */
export class InvalidParameter extends CmdletError {
  readonly detail: string;
}
/** The tenant's own RBAC refused the app. */
export class Forbidden extends CmdletError {
  readonly detail: string;
}
/** The tenant is busy even after the host's retries. */
export class Throttled extends CmdletError {
  /** Milliseconds to wait before trying again. */
  readonly retryAfterMs: number;
}
/** A write was sent but its outcome is unknown: check before retrying. */
export class OutcomeUnknown extends CmdletError {
  readonly detail: string;
}
/** A limit of this run is exhausted (for example `[limits] max-calls`). */
export class LimitExceeded extends CmdletError {
  readonly detail: string;
}
/** Anything else, with Exchange's error code when there is one. */
export class Failed extends CmdletError {
  readonly code: string;
  readonly detail: string;
}

/** Writes one line to the run log; arguments are joined as `console.log` would. */
export const log: Readonly<{
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}>;

/** Reports progress: `done` of `total` (leave `total` out if unknown). */
export function progress(done: number | bigint, total?: number | bigint): void;
/**
 * True in a what-if run (`exorun run --what-if`): every call that would
 * change the tenant is recorded in a plan instead of being sent, and
 * answers as if it had succeeded. Report such changes as planned, not done.
 */
export function whatIf(): boolean;

/**
 * A declared input's value (or its default), typed as the manifest declares
 * it; `undefined` when optional and not given, or not declared.
 */
export function input(name: string): string | number | bigint | boolean | string[] | undefined;

/**
 * Adapts a `run` function to the component's export. `build.mjs` applies
 * it to the entry's `run` for you.
 */
export function automation(
  run: () => unknown,
): () => Promise<{ tag: 'ok'; val: string } | { tag: 'err'; val: string }>;
