// Run with `node --test` in this folder.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { greeting } from './report.js';

test('greets by name', () => {
  assert.equal(greeting('Ann'), 'Hello, Ann, from {{name}}.\n');
});
