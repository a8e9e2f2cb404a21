// A scriptable stand-in for the host side of the `automation` world, with
// the same JavaScript shapes componentize-js gives the guest: results as
// return values, `cmdlet-error`s thrown as errors with a `payload`, the
// `pages` resource as a class with `next()` and a dispose method.

/** What the SDK did, and what the fake answers; reset by each test. */
export const fake = {
  calls: [],
  logs: [],
  progress: [],
  inputs: {},
  whatIf: false,
  disposed: 0,
  nextCalls: 0,
  /** @type {(call: object) => string[]} */
  answer: () => [],
  /** @type {string[][]} pages served by openPages */
  pages: [],
  /** @type {object | undefined} a cmdlet-error thrown by the next page read */
  pageError: undefined,
  reset() {
    Object.assign(this, {
      calls: [],
      logs: [],
      progress: [],
      inputs: {},
      whatIf: false,
      disposed: 0,
      nextCalls: 0,
      answer: () => [],
      pages: [],
      pageError: undefined,
    });
  },
};

/** The bindings' error: a thrown WIT error carries its variant as `payload`. */
export class ComponentError extends Error {
  constructor(payload) {
    super('component error (see error.payload)');
    this.payload = payload;
  }
}

export function invoke(call) {
  fake.calls.push(call);
  return fake.answer(call);
}

export class Pages {
  constructor(pages) {
    this.pages = [...pages];
  }
  next() {
    fake.nextCalls += 1;
    if (fake.pageError) throw new ComponentError(fake.pageError);
    return this.pages.shift();
  }
  [Symbol.dispose ?? Symbol.for('dispose')]() {
    fake.disposed += 1;
  }
}

export function openPages(call) {
  fake.calls.push(call);
  fake.answer(call);
  return new Pages(fake.pages);
}

export function invokeMany(calls) {
  return calls.map((call) => {
    fake.calls.push(call);
    try {
      return { tag: 'ok', val: fake.answer(call) };
    } catch (e) {
      return { tag: 'err', val: e.payload };
    }
  });
}

export function log(level, message) {
  fake.logs.push([level, message]);
}

export function progress(done, total) {
  fake.progress.push([done, total]);
}

export function whatIf() {
  return fake.whatIf;
}

export function get(name) {
  return fake.inputs[name];
}
