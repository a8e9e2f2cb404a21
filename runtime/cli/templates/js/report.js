// The automation's logic, free of host calls so it can be unit-tested.

/** The output of a run. */
export function greeting(name) {
  return `Hello, ${name}, from {{name}}.\n`;
}
