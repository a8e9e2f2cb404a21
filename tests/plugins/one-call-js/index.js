// One Get-Mailbox -Identity call; returns the raw object.

import { input, invoke } from '@exorun/sdk';

export function run() {
  const identity = input('identity') ?? '';
  return invoke('Get-Mailbox', { Identity: identity })
    .map((o) => JSON.stringify(o))
    .join('\n');
}
