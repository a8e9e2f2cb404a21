// {{name}}: the automation's entry point. Cmdlet calls go through the
// @exorun/sdk module; keep the logic in report.js, which has no host calls
// and is tested with `node --test`.

import { input, log } from '@exorun/sdk';

import { greeting } from './report.js';

export function run() {
  const name = input('name') ?? 'operator';
  log.info(`greeting ${name}`);
  return greeting(name);
}
