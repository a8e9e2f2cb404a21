// Unit tests of the SDK's own logic (value mapping, errors, lazy paging,
// batches, inputs, the run adapter) against a fake host. The end-to-end
// behaviour inside the sandbox is tested by tests/js_plugins.rs and
// tests/hostile_js.rs.
//
//   npm test --prefix sdk/js

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import {
  Ambiguous,
  CmdletError,
  Denied,
  Failed,
  Forbidden,
  InvalidParameter,
  LimitExceeded,
  NotFound,
  OutcomeUnknown,
  Throttled,
  automation,
  cmdlet,
  input,
  invoke,
  invokeMany,
  log,
  progress,
  whatIf,
} from '../src/index.js';
import { ComponentError, fake } from './fake-host.mjs';

beforeEach(() => fake.reset());

const json = (...objects) => objects.map((o) => JSON.stringify(o));

describe('parameter values', () => {
  test('map JS values to the WIT value variant', () => {
    const { call } = cmdlet('Set-Mailbox', {
      Identity: 'ann@contoso.com',
      ForwardingSmtpAddress: null,
      HiddenFromAddressListsEnabled: true,
      IssueWarningQuota: 5,
      Big: 9007199254740993n,
      RecipientTypeDetails: ['UserMailbox', 'SharedMailbox'],
      EmailAddresses: { Add: 'a@contoso.com', Remove: ['b@contoso.com'], Skip: undefined },
      Filter: undefined,
    });
    assert.deepEqual(call, {
      cmdlet: 'Set-Mailbox',
      parameters: [
        ['Identity', { tag: 'text', val: 'ann@contoso.com' }],
        ['ForwardingSmtpAddress', { tag: 'null' }],
        ['HiddenFromAddressListsEnabled', { tag: 'boolean', val: true }],
        ['IssueWarningQuota', { tag: 'integer', val: 5n }],
        ['Big', { tag: 'integer', val: 9007199254740993n }],
        ['RecipientTypeDetails', { tag: 'texts', val: ['UserMailbox', 'SharedMailbox'] }],
        [
          'EmailAddresses',
          {
            tag: 'table',
            val: [
              ['Add', { tag: 'text', val: 'a@contoso.com' }],
              ['Remove', { tag: 'texts', val: ['b@contoso.com'] }],
            ],
          },
        ],
      ],
    });
  });

  test('refuse what PowerShell would not bind, naming the parameter', () => {
    const refused = [
      [{ Count: 1.5 }, /Get-X -Count: 1.5 is not an integer/],
      [{ Count: 2 ** 60 }, /Get-X -Count: .* is not an integer/],
      [{ Count: 2n ** 63n }, /Get-X -Count: .* does not fit in a 64-bit integer/],
      [{ Names: ['a', 2] }, /Get-X -Names: a list must hold only strings, but item 1 is number 2/],
      [{ Edit: { Add: { deep: 1 } } }, /Get-X -Edit\.Add: cannot pass an object/],
      [{ When: new Date(0) }, /Get-X -When: cannot pass an object \(Date\)/],
      [{ F: () => 1 }, /Get-X -F: cannot pass function/],
    ];
    for (const [params, message] of refused) {
      assert.throws(() => cmdlet('Get-X', params), { name: 'TypeError', message });
    }
    assert.throws(() => cmdlet('', {}), TypeError);
    assert.throws(() => cmdlet('Get-X', ['Identity', 'x']), /parameters must be an object/);
    assert.equal(fake.calls.length, 0, 'nothing was sent');
  });
});

describe('invoke', () => {
  test('returns the output objects parsed', () => {
    fake.answer = () => json({ Name: 'ann' }, { Name: 'bob' });
    assert.deepEqual(invoke('Get-Mailbox', { ResultSize: 'Unlimited' }), [
      { Name: 'ann' },
      { Name: 'bob' },
    ]);
    assert.deepEqual(fake.calls, [
      { cmdlet: 'Get-Mailbox', parameters: [['ResultSize', { tag: 'text', val: 'Unlimited' }]] },
    ]);
  });

  test('throws one error class per cmdlet-error case, worded as the Rust SDK words it', () => {
    const cases = [
      [{ tag: 'denied', val: { rule: 'r', message: 'm' } }, Denied, 'denied (r): m', { rule: 'r', detail: 'm' }],
      [{ tag: 'not-found', val: 'm' }, NotFound, 'not found: m', { detail: 'm' }],
      [{ tag: 'ambiguous', val: 'm' }, Ambiguous, 'ambiguous: m', { detail: 'm' }],
      [{ tag: 'invalid-parameter', val: 'm' }, InvalidParameter, 'invalid parameter: m', { detail: 'm' }],
      [{ tag: 'forbidden', val: 'm' }, Forbidden, 'forbidden by the tenant: m', { detail: 'm' }],
      [{ tag: 'throttled', val: 1500 }, Throttled, 'throttled: retry after 1500 ms', { retryAfterMs: 1500 }],
      [{ tag: 'outcome-unknown', val: 'm' }, OutcomeUnknown, 'outcome unknown: m', { detail: 'm' }],
      [{ tag: 'limit-exceeded', val: 'm' }, LimitExceeded, 'limit exceeded: m', { detail: 'm' }],
      [{ tag: 'failed', val: { code: 'C', message: 'm' } }, Failed, 'failed (C): m', { code: 'C', detail: 'm' }],
    ];
    for (const [payload, type, message, fields] of cases) {
      fake.answer = () => {
        throw new ComponentError(payload);
      };
      const error = (() => {
        try {
          invoke('Get-Mailbox');
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      assert.ok(error instanceof type && error instanceof CmdletError, payload.tag);
      assert.equal(error.name, type.name);
      assert.equal(error.message, message);
      assert.equal(error.cmdlet, 'Get-Mailbox');
      for (const [k, v] of Object.entries(fields)) assert.equal(error[k], v, `${payload.tag}.${k}`);
    }
  });

  test('lets errors that are not cmdlet errors through unchanged', () => {
    const bug = new RangeError('in the bindings');
    fake.answer = () => {
      throw bug;
    };
    assert.throws(() => invoke('Get-Mailbox'), (e) => e === bug);
  });
});

describe('paged reads', () => {
  test('fetch one page at a time, only as the loop gets there', () => {
    fake.pages = [json({ n: 1 }, { n: 2 }), json({ n: 3 }), json()];
    const seen = [];
    const reads = [];
    for (const o of cmdlet('Get-Mailbox', { ResultSize: 'Unlimited' })) {
      seen.push(o.n);
      reads.push(fake.nextCalls);
    }
    assert.deepEqual(seen, [1, 2, 3]);
    assert.deepEqual(reads, [1, 1, 2]);
    assert.equal(fake.nextCalls, 4, 'the last read finds the end');
    assert.equal(fake.disposed, 1, 'the reader is released at the end');
  });

  test('release the reader when the loop stops early', () => {
    fake.pages = [json({ n: 1 }, { n: 2 }), json({ n: 3 })];
    for (const o of cmdlet('Get-Mailbox')) {
      if (o.n === 1) break;
    }
    assert.equal(fake.nextCalls, 1);
    assert.equal(fake.disposed, 1);
  });

  test('work with for await', async () => {
    fake.pages = [json({ n: 1 }), json({ n: 2 })];
    const seen = [];
    for await (const o of cmdlet('Get-Mailbox')) seen.push(o.n);
    assert.deepEqual(seen, [1, 2]);
    assert.equal(fake.disposed, 1);
  });

  test('yield whole pages from pages()', () => {
    fake.pages = [json({ n: 1 }, { n: 2 }), json({ n: 3 })];
    assert.deepEqual([...cmdlet('Get-Mailbox').pages()], [[{ n: 1 }, { n: 2 }], [{ n: 3 }]]);
  });

  test('throw a page error as its class and release the reader', () => {
    fake.pages = [json({ n: 1 })];
    fake.pageError = { tag: 'throttled', val: 200 };
    assert.throws(() => [...cmdlet('Get-Mailbox')], Throttled);
    assert.equal(fake.disposed, 1);
  });

  test('send a new call each time the same cmdlet is iterated', () => {
    const call = cmdlet('Get-Mailbox');
    [...call];
    [...call];
    assert.equal(fake.calls.length, 2);
  });
});

describe('invokeMany', () => {
  test('settles each call on its own, in order', () => {
    fake.answer = (call) => {
      const identity = call.parameters[0][1].val;
      if (identity === 'gone') throw new ComponentError({ tag: 'not-found', val: identity });
      return json({ Identity: identity });
    };
    const results = invokeMany(
      ['ann', 'gone', 'bob'].map((i) => cmdlet('Get-InboxRule', { Mailbox: i })),
    );
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual(results[0].value, [{ Identity: 'ann' }]);
    assert.ok(results[1].reason instanceof NotFound);
    assert.equal(results[1].reason.cmdlet, 'Get-InboxRule');
    assert.deepEqual(invokeMany([]), []);
    assert.throws(() => invokeMany([['Get-Mailbox', {}]]), /calls built with cmdlet/);
  });
});

describe('log, progress, inputs', () => {
  test('log formats its arguments like console.log, and console writes to the log', () => {
    log.info('read', 3, 'mailboxes', { a: 1 }, 2n);
    log.warn('careful');
    console.log('from console');
    console.error('bad');
    console.debug('detail');
    assert.deepEqual(fake.logs, [
      ['info', 'read 3 mailboxes {"a":1} 2n'],
      ['warn', 'careful'],
      ['info', 'from console'],
      ['error', 'bad'],
      ['debug', 'detail'],
    ]);
  });

  test('progress takes non-negative integers, total optional', () => {
    progress(3, 10);
    progress(4);
    progress(5n, 10n);
    assert.deepEqual(fake.progress, [
      [3, 10],
      [4, undefined],
      [5n, 10n],
    ]);
    assert.throws(() => progress(-1), TypeError);
    assert.throws(() => progress(1.5, 2), TypeError);
  });

  test('inputs arrive typed as declared', () => {
    fake.inputs = {
      name: { tag: 'text', val: 'x' },
      small: { tag: 'integer', val: 25n },
      huge: { tag: 'integer', val: 2n ** 60n },
      flag: { tag: 'boolean', val: true },
      list: { tag: 'texts', val: ['a', 'b'] },
    };
    assert.equal(input('name'), 'x');
    assert.equal(input('small'), 25);
    assert.equal(input('huge'), 2n ** 60n);
    assert.equal(input('flag'), true);
    assert.deepEqual(input('list'), ['a', 'b']);
    assert.equal(input('missing'), undefined);
  });

  test('whatIf says what the host says', () => {
    assert.equal(whatIf(), false);
    fake.whatIf = true;
    assert.equal(whatIf(), true);
  });
});

describe('the run adapter', () => {
  test('turns return values into the output', async () => {
    assert.deepEqual(await automation(() => 'a,b\n')(), { tag: 'ok', val: 'a,b\n' });
    assert.deepEqual(await automation(async () => 'later')(), { tag: 'ok', val: 'later' });
    assert.deepEqual(await automation(() => undefined)(), { tag: 'ok', val: '' });
    assert.deepEqual(await automation(() => ({ n: 1n }))(), { tag: 'ok', val: '{\n  "n": "1"\n}' });
  });

  test('turns thrown errors into the run error', async () => {
    fake.answer = () => {
      throw new ComponentError({ tag: 'denied', val: { rule: 'r', message: 'm' } });
    };
    const fails = async (fn) => (await automation(fn)()).val;
    assert.equal(await fails(() => invoke('Remove-Mailbox')), 'denied (r): m');
    assert.equal(await fails(() => { throw new Error('no mailboxes'); }), 'no mailboxes');
    assert.equal(await fails(async () => { throw 'plain text'; }), 'plain text');
    assert.equal(await fails(() => null.x), "TypeError: Cannot read properties of null (reading 'x')");
    assert.ok(
      fake.logs.some(([level, m]) => level === 'error' && m.startsWith('TypeError: ') && m.includes('\n')),
      'a bug logs its stack',
    );
  });

  test('wraps once and refuses what is not a function', () => {
    const wrapped = automation(() => 'x');
    assert.equal(automation(wrapped), wrapped);
    assert.throws(() => automation(5), /run must be a function, not number 5/);
  });
});

