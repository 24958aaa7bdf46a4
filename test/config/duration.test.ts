import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDurationMs, parseDuration } from '../../runtime/config/duration.ts';

describe('parseDuration', () => {
  test('reads protobuf JSON duration strings as milliseconds', () => {
    assert.deepEqual(parseDuration('5s'), { ms: 5000 });
    assert.deepEqual(parseDuration('0.25s'), { ms: 250 });
    assert.deepEqual(parseDuration('1.5s'), { ms: 1500 });
    assert.deepEqual(parseDuration('0s'), { ms: 0 });
    assert.deepEqual(parseDuration('0.000001s'), { ms: 0.001 });
  });

  test('reads {seconds, nanos} objects, with seconds also as a decimal string', () => {
    assert.deepEqual(parseDuration({ seconds: 1, nanos: 500_000_000 }), { ms: 1500 });
    assert.deepEqual(parseDuration({ seconds: 300 }), { ms: 300_000 });
    assert.deepEqual(parseDuration({ seconds: '2' }), { ms: 2000 });
    assert.deepEqual(parseDuration({ nanos: 250_000_000 }), { ms: 250 });
  });

  test('rejects "250ms" and suggests the seconds spelling', () => {
    const r = parseDuration('250ms');
    assert.ok('error' in r);
    assert.match(r.error, /"0\.25s"/);
    const m = parseDuration('2m');
    assert.ok('error' in m && m.error.includes('"120s"'));
  });

  test('rejects bare numbers, negative values and malformed objects', () => {
    const n = parseDuration(5);
    assert.ok('error' in n && n.error.includes('"5s"'));
    assert.ok('error' in parseDuration('-1s'));
    assert.ok('error' in parseDuration('1.0000000001s'));
    assert.ok('error' in parseDuration({ seconds: 1, nanos: 1e10 }));
    assert.ok('error' in parseDuration({ seconds: 1, milliseconds: 3 }));
    assert.ok('error' in parseDuration({ seconds: -5 }));
    assert.ok('error' in parseDuration(true));
  });

  test('formats milliseconds back to the protobuf spelling', () => {
    assert.equal(formatDurationMs(250), '0.25s');
    assert.equal(formatDurationMs(15000), '15s');
  });
});
