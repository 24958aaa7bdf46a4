import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrkOutput, errorCount } from '../../bench/lib/wrk.ts';

const REPORT = `Running 5s test @ http://127.0.0.1:18080/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.21ms    3.02ms  61.30ms   93.11%
    Req/Sec    11.87k   601.23    12.53k    82.00%
  Latency Distribution
     50%    3.73ms
     75%    4.12ms
     90%    5.01ms
     99%   35.07ms
  59062 requests in 5.01s, 17.01MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 3
Requests/sec:  11788.62
Transfer/sec:      3.40MB
`;

test('reads requests, rate, latency percentiles and errors from a wrk --latency report', () => {
  const r = parseWrkOutput(REPORT);
  assert.equal(r.requests, 59062);
  assert.equal(r.durationS, 5.01);
  assert.equal(r.requestsPerSec, 11788.62);
  assert.deepEqual(r.latencyUs, { p50: 3730, p75: 4120, p90: 5010, p99: 35070 });
  assert.deepEqual(r.errors, { connect: 0, read: 2, write: 0, timeout: 1, non2xx: 3 });
  assert.equal(errorCount(r), 6);
});

test('converts every latency unit wrk prints to microseconds', () => {
  const r = parseWrkOutput(REPORT.replace('3.73ms', '730.00us').replace('4.12ms', '1.50s').replace('35.07ms', '2.00m'));
  assert.equal(r.latencyUs.p50, 730);
  assert.equal(r.latencyUs.p75, 1_500_000);
  assert.equal(r.latencyUs.p99, 120_000_000);
});

test('refuses a report without a latency distribution or a request count', () => {
  assert.throws(() => parseWrkOutput(REPORT.replace(/ {5}99%.*\n/, '')), /99% latency/);
  assert.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused'), /requests in/);
});
