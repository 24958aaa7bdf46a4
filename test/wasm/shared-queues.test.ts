import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test, type TestContext } from 'node:test';
import { threadId, Worker } from 'node:worker_threads';
import { WasmResult } from '../../abi/enums.ts';
import { ErrorCode } from '../../runtime/errors.ts';
import { LAST_QUEUE_ID_WORD_INDEX, SharedQueues } from '../../runtime/wasm/shared-queues.ts';
import { prng } from '../helpers/prng.ts';
import type { Job } from './fixtures/shared-store-worker.ts';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Collects listener calls; `next(n)` resolves once n calls in total have arrived. */
function recorder(queues: SharedQueues): { calls: number[]; next(n: number): Promise<number[]> } {
  const calls: number[] = [];
  let waiter: { n: number; resolve: (ids: number[]) => void } | undefined;
  queues.onReady((id) => {
    calls.push(id);
    if (waiter !== undefined && calls.length >= waiter.n) {
      waiter.resolve(calls.slice());
      waiter = undefined;
    }
  });
  return {
    calls,
    next: (n) =>
      calls.length >= n ? Promise.resolve(calls.slice()) : new Promise((resolve) => (waiter = { n, resolve })),
  };
}

function fresh(t: TestContext, capacityBytes = 65536): SharedQueues {
  const queues = SharedQueues.create({ capacityBytes });
  t.after(() => queues.close());
  return queues;
}

describe('SharedQueues, one thread', () => {
  test('hands out ids from 1 across vm ids; the same (vm_id, name) opens the same queue', (t) => {
    const q = fresh(t);
    const rows: Array<[vm: string, name: string, id: number]> = [
      ['vm', 'a', 1],
      ['vm', 'b', 2],
      ['vm', 'a', 1],
      ['other', 'a', 3],
      ['', 'a', 4],
      ['vm', '', 5],
      ['v', 'ma', 6],
      ['vm', 'b', 2],
    ];
    for (const [vm, name, id] of rows) assert.equal(q.register(vm, name), id, `${vm}/${name}`);
    for (const [vm, name, id] of rows) assert.equal(q.resolve(vm, name), id, `resolve ${vm}/${name}`);
    assert.equal(q.resolve('vm', 'c'), undefined);
    assert.equal(q.resolve('nobody', 'a'), undefined);
    assert.equal(q.stats().queues, 6);
  });

  test('answers NotFound for ids that were never handed out', (t) => {
    const q = fresh(t);
    q.register('vm', 'a');
    for (const id of [0, 2, 99, -1, 1.5, Number.NaN, 2 ** 32 + 1]) {
      assert.equal(q.enqueue(id, bytes('x')), WasmResult.NotFound, `enqueue ${id}`);
      assert.equal(q.dequeue(id), WasmResult.NotFound, `dequeue ${id}`);
    }
  });

  test('dequeues copies in FIFO order, empty and binary items included, then answers Empty', (t) => {
    const q = fresh(t);
    const id = q.register('vm', 'a');
    assert.equal(q.dequeue(id), WasmResult.Empty);
    const items = [bytes('first'), new Uint8Array(0), Uint8Array.of(0, 0xff, 0), bytes('last')];
    for (const item of items) assert.equal(q.enqueue(id, item), WasmResult.Ok);
    items[0].fill(0);
    assert.deepEqual(q.dequeue(id), bytes('first'), 'the store kept its own copy');
    for (const item of items.slice(1)) assert.deepEqual(q.dequeue(id), item);
    assert.equal(q.dequeue(id), WasmResult.Empty);
    assert.equal(q.enqueue(id, bytes('again')), WasmResult.Ok);
    assert.deepEqual(q.dequeue(id), bytes('again'));
    assert.equal(q.verify(), undefined);
  });

  test('answers InternalFailure when full, keeps the queue as it was, and frees space on dequeue', (t) => {
    const q = fresh(t, 16384);
    const id = q.register('vm', 'a');
    const fill = (size: number): number => {
      let n = 0;
      for (; n < 10_000; n++) {
        const r = q.enqueue(id, new Uint8Array(size).fill(n & 0xff));
        if (r === WasmResult.InternalFailure) return n;
        assert.equal(r, WasmResult.Ok);
      }
      return n;
    };
    const big = fill(100);
    const small = fill(0); // use up the last gaps too
    assert.ok(big > 10 && big < 10_000, `filled after ${big} items`);
    const before = q.stats();
    assert.equal(q.enqueue(id, new Uint8Array(1 << 20)), WasmResult.InternalFailure);
    assert.equal(q.register('vm', 'no-room-for-me'), 0, 'no room for a new queue either');
    assert.equal(q.resolve('vm', 'no-room-for-me'), undefined);
    assert.deepEqual(q.stats(), before);
    assert.deepEqual(q.dequeue(id), new Uint8Array(100).fill(0));
    assert.equal(q.enqueue(id, new Uint8Array(50).fill(0xaa)), WasmResult.Ok, 'room again after a dequeue');
    for (let i = 1; i < big; i++) assert.deepEqual(q.dequeue(id), new Uint8Array(100).fill(i & 0xff));
    for (let i = 0; i < small; i++) assert.deepEqual(q.dequeue(id), new Uint8Array(0));
    assert.deepEqual(q.dequeue(id), new Uint8Array(50).fill(0xaa));
    assert.equal(q.dequeue(id), WasmResult.Empty);
    assert.equal(q.verify(), undefined);
  });

  test('throws a TypeError for an item over a detached buffer and leaves the queue as it was', (t) => {
    const q = fresh(t);
    const id = q.register('vm', 'a');
    const buffer = new ArrayBuffer(8);
    const view = new Uint8Array(buffer);
    structuredClone(buffer, { transfer: [buffer] });
    const before = q.stats();
    assert.throws(() => q.enqueue(id, view), TypeError);
    assert.deepEqual(q.stats(), before);
    assert.equal(q.dequeue(id), WasmResult.Empty);
  });

  test('skips 0 and ids still in use when the id counter wraps', (t) => {
    const q = fresh(t);
    assert.equal(q.register('vm', 'one'), 1);
    new Uint32Array(q.handle.buffer)[LAST_QUEUE_ID_WORD_INDEX] = 0xfffffffe;
    assert.equal(q.register('vm', 'max'), 0xffffffff);
    assert.equal(q.register('vm', 'wrapped'), 2, '0 is skipped, 1 is taken');
    assert.equal(q.enqueue(0xffffffff, bytes('x')), WasmResult.Ok);
    assert.deepEqual(q.dequeue(0xffffffff), bytes('x'));
  });

  test('calls the listener later, never inside enqueue, once per item in enqueue order', async (t) => {
    const q = fresh(t);
    const a = q.register('vm', 'a');
    const b = q.register('vm', 'b');
    const rec = recorder(q);
    const order = [a, b, a, a, b];
    for (const id of order) assert.equal(q.enqueue(id, bytes('x')), WasmResult.Ok);
    assert.deepEqual(rec.calls, [], 'nothing delivered synchronously');
    assert.deepEqual(await rec.next(order.length), order);
  });

  test('a listener that enqueues into its own queue is not re-entered', async (t) => {
    const q = fresh(t);
    const id = q.register('vm', 'a');
    let depth = 0;
    let maxDepth = 0;
    let calls = 0;
    const finished = new Promise<void>((resolve) =>
      q.onReady(() => {
        depth++;
        maxDepth = Math.max(maxDepth, depth);
        if (++calls < 50) q.enqueue(id, bytes('again'));
        else resolve();
        depth--;
      }),
    );
    q.enqueue(id, bytes('first'));
    await finished;
    assert.equal(maxDepth, 1);
  });

  test('delivers notifications that arrived before the listener was installed', async (t) => {
    const q = fresh(t);
    const id = q.register('vm', 'a');
    q.enqueue(id, bytes('1'));
    q.enqueue(id, bytes('2'));
    assert.deepEqual(await recorder(q).next(2), [id, id]);
  });

  test('the last registration wins: only that instance is notified', async (t) => {
    const q = fresh(t);
    const first = SharedQueues.attach(q.handle);
    t.after(() => first.close());
    const id = first.register('vm', 'shared');
    const sentinel = first.register('vm', 'sentinel');
    const firstRec = recorder(first);
    assert.equal(q.register('vm', 'shared'), id);
    const rec = recorder(q);
    for (let i = 0; i < 3; i++) q.enqueue(id, bytes('x'));
    first.enqueue(sentinel, bytes('x'));
    assert.deepEqual(await rec.next(3), [id, id, id]);
    // `first`'s notifications arrive in order, so had it been notified for `shared`, those calls would come first.
    assert.deepEqual(await firstRec.next(1), [sentinel]);
  });

  test('close() drops pending notifications and unbinds the queue; items stay and later enqueues notify nobody', async (t) => {
    const q = fresh(t);
    const closing = SharedQueues.attach(q.handle);
    t.after(() => closing.close());
    const id = closing.register('vm', 'a');
    const rec = recorder(closing);
    closing.enqueue(id, bytes('1'));
    assert.equal(q.stats().threads, 1);
    closing.close();
    closing.close();
    assert.equal(q.stats().threads, 0);
    assert.equal(q.enqueue(id, bytes('2')), WasmResult.Ok);
    assert.throws(() => closing.register('vm', 'a'), { code: ErrorCode.INTERNAL });
    assert.throws(() => closing.onReady(() => {}), { code: ErrorCode.INTERNAL });
    // A re-registration binds it to a live thread again; only items enqueued after that notify.
    assert.equal(q.register('vm', 'a'), id);
    const live = recorder(q);
    q.enqueue(id, bytes('3'));
    assert.deepEqual(await live.next(1), [id]);
    assert.deepEqual(rec.calls, []);
    assert.deepEqual([q.dequeue(id), q.dequeue(id), q.dequeue(id)], [bytes('1'), bytes('2'), bytes('3')]);
    assert.equal(q.verify(), undefined);
  });

  test('dropVm deletes that vm id’s queues, items and pending notifications only', async (t) => {
    const q = fresh(t);
    const gone = q.register('gone', 'a');
    const kept = q.register('kept', 'a');
    q.enqueue(gone, bytes('x'));
    q.enqueue(kept, bytes('y'));
    q.enqueue(gone, bytes('x'));
    const used = q.stats().usedBytes;
    q.dropVm('gone');
    assert.ok(q.stats().usedBytes < used);
    assert.equal(q.resolve('gone', 'a'), undefined);
    assert.equal(q.enqueue(gone, bytes('x')), WasmResult.NotFound);
    assert.equal(q.dequeue(gone), WasmResult.NotFound);
    assert.deepEqual(await recorder(q).next(1), [kept]);
    assert.deepEqual(q.dequeue(kept), bytes('y'));
    assert.equal(q.register('gone', 'a'), 3, 'registering again makes a new queue with a new id');
    assert.equal(q.stats().queues, 2);
    assert.equal(q.verify(), undefined);
  });

  test('matches a model under a seeded mix of register, enqueue, dequeue and dropVm in a small store', (t) => {
    const q = fresh(t, 32768);
    const rand = prng(11);
    const pick = (n: number): number => Math.floor(rand() * n);
    const byName = new Map<string, { id: number; items: Uint8Array[] }>();
    const byId = new Map<number, { vm: string; items: Uint8Array[] }>();
    let lastId = 0;
    let fulls = 0;
    for (let i = 0; i < 20_000; i++) {
      const vm = `vm${pick(3)}`;
      const name = `q${pick(3)}`;
      const op = pick(100);
      if (op < 5) {
        const id = q.register(vm, name);
        const known = byName.get(`${vm}|${name}`);
        if (known !== undefined) assert.equal(id, known.id, `op ${i}`);
        else if (id === 0) fulls++;
        else {
          assert.equal(id, ++lastId, `op ${i}`);
          const items: Uint8Array[] = [];
          byName.set(`${vm}|${name}`, { id, items });
          byId.set(id, { vm, items });
        }
      } else if (op < 70) {
        const id = pick(lastId + 2);
        const item = Uint8Array.from({ length: pick(4) === 0 ? pick(2000) : pick(20) }, () => pick(256));
        const r = q.enqueue(id, item);
        const known = byId.get(id);
        if (known === undefined) assert.equal(r, WasmResult.NotFound, `op ${i}`);
        else if (r === WasmResult.InternalFailure) fulls++;
        else {
          assert.equal(r, WasmResult.Ok, `op ${i}`);
          known.items.push(item);
        }
      } else if (op < 99) {
        const id = pick(lastId + 2);
        const known = byId.get(id);
        const expected = known === undefined ? WasmResult.NotFound : (known.items.shift() ?? WasmResult.Empty);
        assert.deepEqual(q.dequeue(id), expected, `op ${i}`);
      } else {
        q.dropVm(vm);
        for (const k of byName.keys()) if (k.startsWith(`${vm}|`)) byName.delete(k);
        for (const [id, v] of byId) if (v.vm === vm) byId.delete(id);
      }
    }
    assert.ok(fulls > 0, 'the store filled at least once');
    assert.equal(q.stats().queues, byName.size);
    for (const [id, { items }] of byId) {
      for (const item of items) assert.deepEqual(q.dequeue(id), item);
      assert.equal(q.dequeue(id), WasmResult.Empty);
    }
    assert.equal(q.verify(), undefined);
  });

  test('refuses a thread beyond maxThreads with SLUICE_ERR_INTERNAL until one closes', (t) => {
    const q = SharedQueues.create({ capacityBytes: 65536, maxThreads: 2 });
    const others = [SharedQueues.attach(q.handle), SharedQueues.attach(q.handle)];
    t.after(() => [q, ...others].forEach((x) => x.close()));
    q.register('vm', 'a');
    others[0].register('vm', 'a');
    assert.throws(() => others[1].register('vm', 'a'), { code: ErrorCode.INTERNAL });
    others[0].close();
    assert.equal(others[1].register('vm', 'a'), 1);
  });

  test('refuses unusable options and foreign handles with SLUICE_ERR_INTERNAL', () => {
    for (const opts of [{ capacityBytes: 10 }, { capacityBytes: 2 ** 40 }, { maxThreads: 0 }, { maxThreads: 1.5 }]) {
      assert.throws(() => SharedQueues.create(opts), { code: ErrorCode.INTERNAL }, JSON.stringify(opts));
    }
    const data = { kind: 'sluice.shared-data', buffer: new SharedArrayBuffer(65536) };
    assert.throws(() => SharedQueues.attach(data as never), { code: ErrorCode.INTERNAL });
    const wrongKind = { kind: 'sluice.shared-queues', buffer: new SharedArrayBuffer(65536) };
    assert.throws(() => SharedQueues.attach(wrongKind as never), { code: ErrorCode.INTERNAL });
  });
});

function startWorker(t: TestContext, job: Job): Worker {
  const worker = new Worker(new URL('./fixtures/shared-store-worker.ts', import.meta.url), { workerData: job });
  t.after(() => worker.terminate());
  return worker;
}

/** The next message of `type`; rejects if the worker fails or exits first. */
async function message<T>(worker: Worker, type: string): Promise<T> {
  const [msg] = (await Promise.race([
    once(worker, 'message'),
    once(worker, 'exit').then(([code]) => Promise.reject(new Error(`worker exited with ${code} before '${type}'`))),
  ])) as [T & { type: string }];
  assert.equal(msg.type, type);
  return msg;
}

describe('SharedQueues across worker threads', () => {
  test('items enqueued by 3 workers reach the registering worker’s listener exactly once each, in per-producer order', async (t) => {
    const q = fresh(t, 1 << 20);
    // The main thread registers first; the worker's later registration takes the notifications.
    const queueId = q.register('vm', 'work');
    const sentinel = q.register('vm', 'sentinel');
    const mainRec = recorder(q);
    const producers = 3;
    const count = 2000;
    const consumer = startWorker(t, { role: 'listen', queues: q.handle, vmId: 'vm', name: 'work', expect: producers * count });
    assert.deepEqual(await message(consumer, 'registered'), { type: 'registered', queueId });
    const workers = Array.from({ length: producers }, (_, producer) =>
      startWorker(t, { role: 'enqueue', queues: q.handle, queueId, producer, count }),
    );
    const received = message<{ items: number[][]; empties: number; ids: number[]; threads: number[]; threadId: number }>(consumer, 'done');
    await Promise.all(workers.map((w) => message(w, 'done')));
    const got = await received;
    assert.equal(got.empties, 0, 'one item per notification');
    assert.deepEqual(got.ids, [queueId]);
    assert.deepEqual(got.threads, [got.threadId]);
    assert.notEqual(got.threadId, threadId);
    const next = new Array<number>(producers).fill(0);
    for (const [producer, lo, hi] of got.items) {
      assert.equal(lo | (hi << 8), next[producer], `producer ${producer} item in order`);
      next[producer]++;
    }
    assert.deepEqual(next, new Array(producers).fill(count));
    assert.equal(q.dequeue(queueId), WasmResult.Empty);
    q.enqueue(sentinel, bytes('x'));
    assert.deepEqual(await mainRec.next(1), [sentinel], 'the main thread got no notification for the worker’s queue');
    assert.equal(q.verify(), undefined);
  });

  test('3 workers dequeueing one queue at once get every item exactly once', async (t) => {
    const q = fresh(t, 1 << 20);
    // Registered by a thread that then closed: nobody is notified, so only items take space.
    const registrar = SharedQueues.attach(q.handle);
    const queueId = registrar.register('vm', 'jobs');
    registrar.close();
    const emptyQueueBytes = q.stats().usedBytes;
    const total = 6000;
    for (let i = 0; i < total; i++) assert.equal(q.enqueue(queueId, Uint8Array.of(i & 0xff, i >> 8)), WasmResult.Ok);
    const workers = Array.from({ length: 3 }, () =>
      startWorker(t, { role: 'dequeue-until-empty', queues: q.handle, queueId, limit: total + 1 }),
    );
    const results = await Promise.all(workers.map((w) => message<{ items: number[][] }>(w, 'done')));
    const seen = new Set<number>();
    for (const { items } of results) {
      let last = -1;
      for (const [lo, hi] of items) {
        const n = lo | (hi << 8);
        assert.ok(n > last, 'each worker sees FIFO order');
        assert.ok(!seen.has(n), `item ${n} dequeued twice`);
        seen.add(n);
        last = n;
      }
    }
    assert.equal(seen.size, total);
    assert.equal(q.stats().usedBytes, emptyQueueBytes, 'every item block was freed');
    assert.equal(q.verify(), undefined);
  });

  for (const exit of ['close', 'unref'] as const) {
    test(`a worker listening for notifications can exit after ${exit}()`, async (t) => {
      const q = fresh(t);
      const worker = startWorker(t, { role: 'listen-and-exit', queues: q.handle, exit });
      const exited = once(worker, 'exit');
      await message(worker, 'done');
      const [code] = await exited;
      assert.equal(code, 0);
      assert.equal(q.stats().threads, exit === 'close' ? 0 : 1, 'only close() frees the thread slot');
    });
  }
});
