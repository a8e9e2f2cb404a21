/**
 * The JavaScript shapes componentize-js gives the guest for the WIT world
 * `exorun:automation/automation` (wit/automation.wit). The engine provides
 * these modules at run time; only the SDK imports them. A WIT `result`'s
 * error is thrown as an error whose `payload` is the variant.
 */

declare module 'exorun:automation/cmdlets@0.1.0' {
  type Variant<T extends string, V = undefined> = V extends undefined ? { tag: T } : { tag: T; val: V };
  export type Leaf =
    | Variant<'null'>
    | Variant<'boolean', boolean>
    | Variant<'integer', bigint>
    | Variant<'text', string>
    | Variant<'texts', string[]>;
  export type Value = Leaf | Variant<'table', [string, Leaf][]>;
  export interface Call {
    cmdlet: string;
    parameters: [string, Value][];
  }
  export type CmdletError =
    | Variant<'denied', { rule: string; message: string }>
    | Variant<'not-found', string>
    | Variant<'ambiguous', string>
    | Variant<'invalid-parameter', string>
    | Variant<'forbidden', string>
    | Variant<'throttled', number>
    | Variant<'outcome-unknown', string>
    | Variant<'limit-exceeded', string>
    | Variant<'failed', { code: string; message: string }>;
  export function invoke(call: Call): string[];
  export class Pages {
    next(): string[] | undefined;
    [Symbol.dispose](): void;
  }
  export function openPages(call: Call): Pages;
  export function invokeMany(
    calls: Call[],
  ): ({ tag: 'ok'; val: string[] } | { tag: 'err'; val: CmdletError })[];
}

declare module 'exorun:automation/host@0.1.0' {
  export function log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  export function progress(done: number | bigint, total: number | bigint | undefined): void;
  export function whatIf(): boolean;
}

declare module 'exorun:automation/inputs@0.1.0' {
  export function get(
    name: string,
  ):
    | { tag: 'text'; val: string }
    | { tag: 'integer'; val: bigint }
    | { tag: 'boolean'; val: boolean }
    | { tag: 'texts'; val: string[] }
    | undefined;
}
