import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test, type TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';
import { WasmResult } from '../../abi/enums.ts';
import { ErrorCode } from '../../runtime/errors.ts';
import { CAS_COUNTER_WORD_INDEX, SharedData } from '../../runtime/wasm/shared-data.ts';
import { LOCK_WORD_INDEX } from '../../runtime/wasm/shared-heap.ts';
import { prng } from '../helpers/prng.ts';
import type { Job } from './fixtures/shared-store-worker.ts';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

describe('SharedData, one thread', () => {
  // Each row: steps [vmId, key, value, cas given, expected result, expected cas stored afterwards].
  // A fresh store per row; its counter hands out 1, 2, 3, … to successful sets.
  type Step = [vm: string, key: string, value: string, cas: number, result: WasmResult, casAfter: number | undefined];
  const rows: Array<[string, Step[]]> = [
    ['a new key with cas 0 is stored with cas 1', [['vm', 'k', 'v', 0, WasmResult.Ok, 1]]],
    ['a new key ignores a non-zero cas', [['vm', 'k', 'v', 12345, WasmResult.Ok, 1]]],
    ['cas 0 overwrites unconditionally', [['vm', 'k', 'a', 0, WasmResult.Ok, 1], ['vm', 'k', 'b', 0, WasmResult.Ok, 2]]],
    ['the stored cas overwrites', [['vm', 'k', 'a', 0, WasmResult.Ok, 1], ['vm', 'k', 'b', 1, WasmResult.Ok, 2]]],
    [
      'a stale cas is CasMismatch and keeps the value',
      [['vm', 'k', 'a', 0, WasmResult.Ok, 1], ['vm', 'k', 'b', 0, WasmResult.Ok, 2], ['vm', 'k', 'c', 1, WasmResult.CasMismatch, 2]],
    ],
    ['a cas from the future is CasMismatch', [['vm', 'k', 'a', 0, WasmResult.Ok, 1], ['vm', 'k', 'b', 7, WasmResult.CasMismatch, 1]]],
    [
      'the counter is shared by all keys and vm ids',
      [['vm', 'a', 'x', 0, WasmResult.Ok, 1], ['other', 'a', 'x', 0, WasmResult.Ok, 2], ['vm', 'b', 'x', 99, WasmResult.Ok, 3]],
    ],
    [
      'a failed set does not use up a cas',
      [['vm', 'k', 'a', 0, WasmResult.Ok, 1], ['vm', 'k', 'b', 5, WasmResult.CasMismatch, 1], ['vm', 'j', 'c', 0, WasmResult.Ok, 2]],
    ],
    [
      'the same key under another vm id is another entry',
      [['vm', 'k', 'a', 0, WasmResult.Ok, 1], ['vm2', 'k', 'b', 1, WasmResult.Ok, 2], ['vm', 'k', 'c', 1, WasmResult.Ok, 3]],
    ],
    ['a cas of 2^32 + 1 is taken as u32 1', [['vm', 'k', 'a', 0, WasmResult.Ok, 1], ['vm', 'k', 'b', 2 ** 32 + 1, WasmResult.Ok, 2]]],
    ['a cas of -1 is taken as u32 0xffffffff', [['vm', 'k', 'a', 0, WasmResult.Ok, 1], ['vm', 'k', 'b', -1, WasmResult.CasMismatch, 1]]],
  ];
  for (const [what, steps] of rows) {
    test(what, () => {
      const store = SharedData.create({ capacityBytes: 65536 });
      const values = new Map<string, string>();
      for (const [i, [vm, key, value, cas, result, casAfter]] of steps.entries()) {
        assert.equal(store.set(vm, bytes(key), bytes(value), cas), result, `step ${i} result`);
        if (result === WasmResult.Ok) values.set(`${vm}/${key}`, value);
        const got = store.get(vm, bytes(key));
        assert.equal(got?.cas, casAfter, `step ${i} cas`);
        assert.equal(text(got?.value), values.get(`${vm}/${key}`), `step ${i} value`);
      }
      assert.equal(store.verify(), undefined);
    });
  }

  test('returns undefined for a key that was never set', () => {
    const store = SharedData.create({ capacityBytes: 65536 });
    store.set('vm', bytes('k'), bytes('v'), 0);
    assert.equal(store.get('vm', bytes('j')), undefined);
    assert.equal(store.get('vm2', bytes('k')), undefined);
  });

  test('stores an empty value (what an SDK remove sends) as an entry with a cas', () => {
    const store = SharedData.create({ capacityBytes: 65536 });
    assert.equal(store.set('vm', bytes('k'), bytes('v'), 0), WasmResult.Ok);
    assert.equal(store.set('vm', bytes('k'), new Uint8Array(0), 0), WasmResult.Ok);
    assert.deepEqual(store.get('vm', bytes('k')), { value: new Uint8Array(0), cas: 2 });
    assert.equal(store.set('vm', new Uint8Array(0), new Uint8Array(0), 0), WasmResult.Ok, 'empty key too');
    assert.deepEqual(store.get('vm', new Uint8Array(0)), { value: new Uint8Array(0), cas: 3 });
  });

  test('compares binary keys bytewise: NUL, 0xff, prefixes and the empty vm id are all distinct', () => {
    const store = SharedData.create({ capacityBytes: 65536 });
    const keys = [[], [0], [0, 0], [0xff], [0xff, 0], [0x61], [0x61, 0], [0x61, 0x62], [0x62, 0x61], [0xc3, 0xa9], [0xe9]];
    const vms = ['', 'a', 'ab', 'é'];
    let n = 0;
    for (const vm of vms) for (const k of keys) assert.equal(store.set(vm, Uint8Array.from(k), Uint8Array.of(n++), 0), WasmResult.Ok);
    n = 0;
    for (const vm of vms) {
      for (const k of keys) {
        const got = store.get(vm, Uint8Array.from(k));
        assert.deepEqual(got?.value, Uint8Array.of(n), `vm ${JSON.stringify(vm)} key [${k}]`);
        assert.equal(got?.cas, ++n);
      }
    }
    assert.equal(store.stats().entries, vms.length * keys.length);
  });

  test('returns a copy and keeps its own copy of what was set', () => {
    const store = SharedData.create({ capacityBytes: 65536 });
    const key = bytes('k');
    const value = bytes('value');
    store.set('vm', key, value, 0);
    key.fill(0);
    value.fill(0);
    const got = store.get('vm', bytes('k'));
    assert.equal(text(got?.value), 'value');
    assert.ok(!(got!.value.buffer instanceof SharedArrayBuffer), 'the copy does not alias the store');
    got!.value.fill(0);
    assert.equal(text(store.get('vm', bytes('k'))?.value), 'value');
  });

  test('throws a TypeError for a view over a detached buffer before touching the store', () => {
    const store = SharedData.create({ capacityBytes: 65536 });
    const detached = (): Uint8Array => {
      const buffer = new ArrayBuffer(8);
      const view = new Uint8Array(buffer);
      structuredClone(buffer, { transfer: [buffer] });
      return view;
    };
    const before = store.stats();
    assert.throws(() => store.set('vm', detached(), bytes('v'), 0), TypeError);
    assert.throws(() => store.set('vm', bytes('k'), detached(), 0), TypeError);
    assert.deepEqual(store.stats(), before);
    assert.equal(store.set('vm', bytes('k'), bytes('v'), 0), WasmResult.Ok, 'the lock was not left held');
  });

  test('skips 0 when the cas counter wraps', () => {
    const store = SharedData.create({ capacityBytes: 65536 });
    new Uint32Array(store.handle.buffer)[CAS_COUNTER_WORD_INDEX] = 0xfffffffe;
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      assert.equal(store.set('vm', bytes('k'), Uint8Array.of(i), 0), WasmResult.Ok);
      seen.push(store.get('vm', bytes('k'))!.cas);
    }
    assert.deepEqual(seen, [0xffffffff, 1, 2]);
    assert.equal(store.set('vm', bytes('k'), Uint8Array.of(9), 2), WasmResult.Ok, 'the wrapped cas works for CAS');
  });

  test('dropVm deletes every key of that vm id only, and frees their space', () => {
    const store = SharedData.create({ capacityBytes: 65536 });
    for (let i = 0; i < 50; i++) {
      store.set('gone', bytes(`k${i}`), new Uint8Array(100), 0);
      store.set('kept', bytes(`k${i}`), Uint8Array.of(i), 0);
    }
    const keptBytes = store.stats().usedBytes / 2;
    store.dropVm('gone');
    store.dropVm('never-existed');
    for (let i = 0; i < 50; i++) {
      assert.equal(store.get('gone', bytes(`k${i}`)), undefined);
      assert.deepEqual(store.get('kept', bytes(`k${i}`))?.value, Uint8Array.of(i));
    }
    assert.equal(store.stats().entries, 50);
    assert.ok(store.stats().usedBytes < keptBytes, `${store.stats().usedBytes} bytes left`);
    assert.equal(store.set('gone', bytes('k0'), bytes('again'), 77), WasmResult.Ok, 'a dropped key is new again');
    assert.equal(store.get('gone', bytes('k0'))?.cas, 101, 'the counter is not reset (100 sets before)');
    assert.equal(store.verify(), undefined);
  });

  test('the handle is structured-cloneable and attach() sees the same entries', () => {
    const store = SharedData.create({ capacityBytes: 65536 });
    const other = SharedData.attach(structuredClone(store.handle));
    store.set('vm', bytes('k'), bytes('one'), 0);
    assert.equal(text(other.get('vm', bytes('k'))?.value), 'one');
    assert.equal(other.set('vm', bytes('k'), bytes('two'), 1), WasmResult.Ok);
    assert.deepEqual(store.get('vm', bytes('k')), { value: bytes('two'), cas: 2 });
  });

  test('refuses unusable capacities and foreign handles with SLUICE_ERR_INTERNAL', () => {
    for (const capacityBytes of [0, 100, -1, 1.5, Number.NaN, 2 ** 31, 2 ** 40]) {
      assert.throws(() => SharedData.create({ capacityBytes }), { code: ErrorCode.INTERNAL }, String(capacityBytes));
    }
    const ragged = SharedData.create({ capacityBytes: 65537 });
    assert.equal(ragged.set('vm', bytes('k'), bytes('v'), 0), WasmResult.Ok, 'a capacity that is not a multiple of 8 is rounded down');
    const handles = [
      undefined,
      {},
      { kind: 'sluice.shared-data', buffer: new ArrayBuffer(65536) },
      { kind: 'sluice.shared-data', buffer: new SharedArrayBuffer(65536) },
      { kind: 'sluice.shared-data', buffer: new SharedArrayBuffer(65537) },
    ];
    for (const h of handles) assert.throws(() => SharedData.attach(h as never), { code: ErrorCode.INTERNAL });
  });
});

describe('SharedData capacity', () => {
  test('answers InternalFailure when full and changes nothing; space comes back after dropVm', () => {
    const store = SharedData.create({ capacityBytes: 16384 });
    let n = 0;
    for (; n < 10_000; n++) {
      const r = store.set('vm', bytes(`k${n}`), new Uint8Array(200).fill(n & 0xff), 0);
      if (r === WasmResult.InternalFailure) break;
      assert.equal(r, WasmResult.Ok);
    }
    assert.ok(n > 10 && n < 10_000, `filled after ${n} sets`);
    const before = store.stats();
    const lastCas = store.get('vm', bytes(`k${n - 1}`))!.cas;
    // Growing an existing entry past what is free fails too, and keeps the old value and cas.
    assert.equal(store.set('vm', bytes('k0'), new Uint8Array(4000), 0), WasmResult.InternalFailure);
    assert.equal(store.set('vm', bytes('k0'), new Uint8Array(4000), 1), WasmResult.InternalFailure);
    assert.deepEqual(store.get('vm', bytes('k0')), { value: new Uint8Array(200).fill(0), cas: 1 });
    assert.equal(store.set('vm', bytes('huge'), new Uint8Array(1 << 20), 0), WasmResult.InternalFailure);
    assert.deepEqual(store.stats(), before);
    for (let i = 0; i < n; i++) assert.deepEqual(store.get('vm', bytes(`k${i}`))?.value, new Uint8Array(200).fill(i & 0xff));
    // A failed set used up no cas.
    assert.equal(store.set('vm', bytes('k0'), new Uint8Array(10), 0), WasmResult.Ok, 'shrinking in place fits');
    assert.equal(store.get('vm', bytes('k0'))?.cas, lastCas + 1);
    store.dropVm('vm');
    assert.equal(store.stats().usedBytes, 0);
    assert.equal(store.set('vm', bytes('big'), new Uint8Array(before.capacityBytes - 100), 0), WasmResult.Ok);
    assert.equal(store.verify(), undefined);
  });

  test('setting one key 100k times with varying sizes reuses the space (the store never fills)', () => {
    const store = SharedData.create({ capacityBytes: 65536 });
    const rand = prng(7);
    const key = bytes('counter');
    let maxUsed = 0;
    for (let i = 0; i < 100_000; i++) {
      const size = Math.floor(rand() * 8192);
      assert.equal(store.set('vm', key, new Uint8Array(size), 0), WasmResult.Ok, `set ${i} of ${size} bytes`);
      maxUsed = Math.max(maxUsed, store.stats().usedBytes);
    }
    assert.equal(store.stats().entries, 1);
    assert.ok(maxUsed < 8192 + 256, `at most one value's worth in use, saw ${maxUsed}`);
    assert.equal(store.verify(), undefined);
  });

  test('a value larger than half the store can still be replaced by another large value', () => {
    const store = SharedData.create({ capacityBytes: 65536 });
    const big = Math.floor(store.stats().capacityBytes * 0.7);
    assert.equal(store.set('vm', bytes('k'), new Uint8Array(big).fill(1), 0), WasmResult.Ok);
    assert.equal(store.set('vm', bytes('k'), new Uint8Array(big - 1000).fill(2), 0), WasmResult.Ok, 'shrinks in place');
    assert.equal(store.set('vm', bytes('k'), new Uint8Array(big).fill(3), 0), WasmResult.Ok, 'grows into the freed tail');
    assert.deepEqual(store.get('vm', bytes('k'))?.value, new Uint8Array(big).fill(3));
  });

  test('matches a Map model under a seeded mix of sets, gets and dropVm in a small store', () => {
    const store = SharedData.create({ capacityBytes: 32768 });
    const rand = prng(42);
    const pick = (n: number): number => Math.floor(rand() * n);
    const model = new Map<string, { value: Uint8Array; cas: number; vm: string; key: Uint8Array }>();
    let nextCas = 1;
    let fulls = 0;
    for (let i = 0; i < 20_000; i++) {
      const vm = `vm${pick(3)}`;
      const key = Uint8Array.from({ length: pick(6) }, () => pick(3));
      const id = `${vm}|${key}`;
      const op = pick(100);
      if (op < 70) {
        const value = Uint8Array.from({ length: pick(3) === 0 ? pick(3000) : pick(40) }, () => pick(256));
        const cur = model.get(id);
        const cas = [0, cur?.cas ?? 0, nextCas + 5, pick(nextCas + 1)][pick(4)];
        const r = store.set(vm, key, value, cas);
        if (r === WasmResult.InternalFailure) {
          fulls++;
        } else if (cur !== undefined && cas !== 0 && cas !== cur.cas) {
          assert.equal(r, WasmResult.CasMismatch, `op ${i}`);
        } else {
          assert.equal(r, WasmResult.Ok, `op ${i}`);
          model.set(id, { value, cas: nextCas++, vm, key });
        }
      } else if (op < 99) {
        const cur = model.get(id);
        assert.deepEqual(store.get(vm, key), cur === undefined ? undefined : { value: cur.value, cas: cur.cas }, `op ${i}`);
      } else {
        store.dropVm(vm);
        for (const [k, e] of model) if (e.vm === vm) model.delete(k);
      }
    }
    assert.ok(fulls > 0, 'the store filled at least once');
    for (const e of model.values()) assert.deepEqual(store.get(e.vm, e.key), { value: e.value, cas: e.cas });
    assert.equal(store.stats().entries, model.size);
    assert.equal(store.verify(), undefined);
  });

  test('throws SLUICE_ERR_INTERNAL instead of hanging when a terminated thread left the lock held', () => {
    const store = SharedData.create({ capacityBytes: 65536, lockTimeoutMs: 200 });
    store.set('vm', bytes('k'), bytes('v'), 0);
    // Fault injection: what worker.terminate() inside a critical section leaves behind.
    Atomics.store(new Int32Array(store.handle.buffer), LOCK_WORD_INDEX, 1);
    assert.throws(() => store.get('vm', bytes('k')), { code: ErrorCode.INTERNAL });
  });
});

function startWorker(t: TestContext, job: Job): Worker {
  const worker = new Worker(new URL('./fixtures/shared-store-worker.ts', import.meta.url), { workerData: job });
  t.after(() => worker.terminate());
  return worker;
}

/** The worker's `done` message; rejects if it throws or exits first. */
async function done<T>(worker: Worker): Promise<T> {
  const [msg] = (await Promise.race([
    once(worker, 'message'),
    once(worker, 'exit').then(([code]) => Promise.reject(new Error(`worker exited with ${code} before reporting`))),
  ])) as [T & { type: string }];
  assert.equal(msg.type, 'done');
  return msg;
}

describe('SharedData across worker threads', () => {
  test('4 workers × 2000 CAS increments of one counter key end at exactly 8000', async (t) => {
    const store = SharedData.create({ capacityBytes: 1 << 20 });
    const key = [0, 1, 2, 0xff];
    // The counter exists before any worker reads it: a set of a missing key, like a set with cas 0,
    // is unconditional (Envoy), so a worker that read "missing" and then lost the CPU would
    // overwrite every increment made in between.
    assert.equal(store.set('counter-vm', Uint8Array.from(key), new Uint8Array(4), 0), WasmResult.Ok);
    const workers = Array.from({ length: 4 }, () =>
      startWorker(t, { role: 'cas-increment', data: store.handle, vmId: 'counter-vm', key, count: 2000 }),
    );
    await Promise.all(workers.map((w) => done(w)));
    const got = store.get('counter-vm', Uint8Array.from(key));
    assert.equal(new DataView(got!.value.buffer).getUint32(0, true), 8000);
    assert.equal(store.stats().entries, 1);
    assert.equal(store.verify(), undefined);
  });

  test('concurrent writers of varying sizes never expose a torn value and leave a sound heap', async (t) => {
    // Small enough that some sets meet a full store, so the failure path runs under contention too.
    const store = SharedData.create({ capacityBytes: 24 * 1024 });
    const workers = Array.from({ length: 4 }, (_, worker) =>
      startWorker(t, { role: 'churn', data: store.handle, vmId: 'churn', worker, count: 5000, seed: worker + 1 }),
    );
    const results = await Promise.all(workers.map((w) => done<{ torn: number; full: number }>(w)));
    assert.deepEqual(
      results.map((r) => r.torn),
      [0, 0, 0, 0],
    );
    assert.equal(store.verify(), undefined);
    for (let w = 0; w < 4; w++) {
      for (let k = 0; k < 16; k++) {
        const got = store.get('churn', Uint8Array.of(w, k));
        if (got !== undefined) assert.ok(got.value.every((b) => b === w + 1), `worker ${w} key ${k}`);
      }
    }
  });
});
