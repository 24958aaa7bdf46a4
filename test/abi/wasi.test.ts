import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LogLevel } from '../../abi/enums.ts';
import { GuestMemory } from '../../abi/guest-memory.ts';
import {
  createWasiImports,
  ProcExit,
  WASI_MAX_IOVECS,
  WASI_MAX_RANDOM_BYTES,
  WASI_MAX_WRITE_BYTES,
  WasiErrno,
  type WasiFunction,
  type WasiHost,
} from '../../abi/wasi.ts';

// tsconfig's lib (esnext) and @types/node do not declare the WebAssembly namespace; the runtime has it.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
const { WebAssembly } = globalThis as unknown as {
  WebAssembly: { Memory: new (desc: { initial: number }) => WasmMemory };
};

const PAGE = 65536;
const OOB = PAGE - 2; // a pointer whose 4-byte (or wider) target crosses the end of memory
const { SUCCESS, BADF, EXIST, FAULT, INVAL, NOENT, NOSYS, NOTSUP } = WasiErrno;

interface Harness {
  wasi: Record<string, WasiFunction>;
  bytes: Uint8Array;
  view: DataView;
  logs: Array<[LogLevel, string]>;
  exits: number[];
  /** Makes the host report no memory, as before the instance exports it. */
  detach(): void;
}

function harness(overrides: Partial<WasiHost> = {}): Harness {
  const memory = new WebAssembly.Memory({ initial: 1 });
  let guest: GuestMemory | undefined = new GuestMemory(memory);
  const logs: Array<[LogLevel, string]> = [];
  const exits: number[] = [];
  const host: WasiHost = {
    memory: () => guest,
    log: (level, message) => logs.push([level, message]),
    realtimeNs: () => 1_700_000_000_123_456_789n,
    monotonicNs: () => 42n,
    randomFill: (b) => b.fill(0xab),
    environ: () => [],
    procExit: (code) => {
      exits.push(code);
      throw new ProcExit(code);
    },
    ...overrides,
  };
  return {
    wasi: createWasiImports(host),
    bytes: new Uint8Array(memory.buffer),
    view: new DataView(memory.buffer),
    logs,
    exits,
    detach: () => {
      guest = undefined;
    },
  };
}

/** Writes `text` at `at` and an iovec for it at `iov`; returns the text's byte length. */
function putIovec(h: Harness, iov: number, at: number, text: string): number {
  const data = new TextEncoder().encode(text);
  h.bytes.set(data, at);
  h.view.setUint32(iov, at, true);
  h.view.setUint32(iov + 4, data.byteLength, true);
  return data.byteLength;
}

test('provides every WASI preview1 function listed in §8, plus proc_raise', () => {
  const expected = [
    'args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get', 'clock_res_get', 'clock_time_get',
    'fd_advise', 'fd_allocate', 'fd_close', 'fd_datasync', 'fd_fdstat_get', 'fd_fdstat_set_flags',
    'fd_fdstat_set_rights', 'fd_filestat_get', 'fd_filestat_set_size', 'fd_filestat_set_times', 'fd_pread',
    'fd_prestat_get', 'fd_prestat_dir_name', 'fd_pwrite', 'fd_read', 'fd_readdir', 'fd_renumber', 'fd_seek',
    'fd_sync', 'fd_tell', 'fd_write', 'path_create_directory', 'path_filestat_get', 'path_filestat_set_times',
    'path_link', 'path_open', 'path_readlink', 'path_remove_directory', 'path_rename', 'path_symlink',
    'path_unlink_file', 'poll_oneoff', 'proc_exit', 'proc_raise', 'sched_yield', 'random_get', 'sock_accept',
    'sock_recv', 'sock_send', 'sock_shutdown',
  ];
  assert.deepEqual(Object.keys(harness().wasi).sort(), expected.sort());
});

describe('fd_write and fd_pwrite', () => {
  test('concatenate iovecs into one Info line for stdout, strip one trailing newline and report every byte', () => {
    const h = harness();
    let n = putIovec(h, 100, 1000, 'hello, ');
    n += putIovec(h, 108, 2000, 'wörld');
    n += putIovec(h, 116, 3000, '\n\n');
    h.view.setUint32(124, 0, true); // a zero-length iovec with a junk pointer is skipped
    h.view.setUint32(128, 0, true);
    assert.equal(h.wasi.fd_write(1, 100, 4, 200), SUCCESS);
    assert.deepEqual(h.logs, [[LogLevel.Info, 'hello, wörld\n']]);
    assert.equal(h.view.getUint32(200, true), n);
    assert.equal(n, 7 + 6 + 2);
  });

  test('log stderr at Error and leave text without a trailing newline as it is', () => {
    const h = harness();
    putIovec(h, 100, 1000, 'oops');
    assert.equal(h.wasi.fd_write(2, 100, 1, 200), SUCCESS);
    assert.deepEqual(h.logs, [[LogLevel.Error, 'oops']]);
    assert.equal(h.view.getUint32(200, true), 4);
  });

  test('fd_pwrite ignores its i64 offset and behaves like fd_write', () => {
    const h = harness();
    putIovec(h, 100, 1000, 'p\n');
    assert.equal(h.wasi.fd_pwrite(1, 100, 1, 12345n, 200), SUCCESS);
    assert.deepEqual(h.logs, [[LogLevel.Info, 'p']]);
    assert.equal(h.view.getUint32(200, true), 2);
    assert.equal(h.wasi.fd_pwrite(3, 100, 1, 0n, 200), BADF);
  });

  test('an empty write logs nothing and reports 0', () => {
    const h = harness();
    h.view.setUint32(200, 99, true);
    assert.equal(h.wasi.fd_write(1, 100, 0, 200), SUCCESS);
    assert.deepEqual(h.logs, []);
    assert.equal(h.view.getUint32(200, true), 0);
  });

  test('answers BADF for any fd but 1 and 2, before touching memory', () => {
    const h = harness();
    for (const fd of [0, 3, -1, 0x7fffffff]) assert.equal(h.wasi.fd_write(fd, OOB, 1, OOB), BADF, `fd ${fd}`);
    assert.deepEqual(h.logs, []);
  });

  test('answers FAULT, without logging or writing, for an iovec table, buffer or result pointer outside memory', () => {
    const h = harness();
    putIovec(h, 100, 1000, 'x');
    h.view.setUint32(200, 7, true);
    assert.equal(h.wasi.fd_write(1, OOB, 1, 200), FAULT, 'table crosses the end');
    assert.equal(h.wasi.fd_write(1, -8, 1, 200), FAULT, 'table at u32 0xfffffff8');
    assert.equal(h.wasi.fd_write(1, 100, 1, OOB), FAULT, 'nwritten crosses the end');
    h.view.setUint32(108, PAGE - 1, true);
    h.view.setUint32(112, 2, true);
    assert.equal(h.wasi.fd_write(1, 100, 2, 200), FAULT, 'second buffer crosses the end');
    h.view.setUint32(108, 0xffffffff, true);
    h.view.setUint32(112, 0xffffffff, true);
    assert.equal(h.wasi.fd_write(1, 100, 2, 200), FAULT, 'buffer at u32 max');
    assert.deepEqual(h.logs, []);
    assert.equal(h.view.getUint32(200, true), 7);
  });

  test('refuses more iovecs than WASI_MAX_IOVECS with INVAL', () => {
    const h = harness();
    assert.equal(h.wasi.fd_write(1, 0, WASI_MAX_IOVECS + 1, 200), INVAL);
    assert.equal(h.wasi.fd_write(1, 0, -1, 200), INVAL, 'iovs_len 0xffffffff');
    assert.equal(h.wasi.fd_write(1, 0, WASI_MAX_IOVECS, PAGE - 4), SUCCESS, 'exactly the limit (all zero-length)');
  });

  test('copies at most WASI_MAX_WRITE_BYTES into the line but reports the full length', () => {
    const memory = new WebAssembly.Memory({ initial: 40 }); // 2.5 MiB
    const logs: string[] = [];
    const wasi = createWasiImports({ ...harnessHost(), memory: () => new GuestMemory(memory), log: (_l, m) => logs.push(m) });
    const view = new DataView(memory.buffer);
    const bytes = new Uint8Array(memory.buffer);
    bytes.fill(0x61, 4096, 4096 + 2 * 1024 * 1024);
    view.setUint32(100, 4096, true);
    view.setUint32(104, 1024 * 1024 + 10, true);
    view.setUint32(108, 4096, true);
    view.setUint32(112, 1024 * 1024, true);
    assert.equal(wasi.fd_write(1, 100, 2, 200), SUCCESS);
    assert.equal(logs.length, 1);
    assert.equal(logs[0].length, WASI_MAX_WRITE_BYTES);
    assert.equal(view.getUint32(200, true), 2 * 1024 * 1024 + 10);
  });

  test('answers FAULT when the host has no memory yet', () => {
    const h = harness();
    h.detach();
    assert.equal(h.wasi.fd_write(1, 100, 1, 200), FAULT);
  });
});

function harnessHost(): WasiHost {
  return {
    memory: () => undefined,
    log: () => {},
    realtimeNs: () => 0n,
    monotonicNs: () => 0n,
    randomFill: () => {},
    environ: () => [],
    procExit: () => {},
  };
}

describe('environ_sizes_get and environ_get', () => {
  const env = [
    ['A', '1'],
    ['PATH_LIKE', 'x=y'],
    ['É', ''],
  ] as const;

  test('report the count and the bytes of KEY=VALUE\\0 entries', () => {
    const h = harness({ environ: () => env });
    assert.equal(h.wasi.environ_sizes_get(100, 104), SUCCESS);
    assert.equal(h.view.getUint32(100, true), 3);
    // "A=1\0" 4 + "PATH_LIKE=x=y\0" 14 + "É=\0" (É is 2 bytes in UTF-8) 4
    assert.equal(h.view.getUint32(104, true), 22);
  });

  test('write a pointer array and the packed strings, byte for byte', () => {
    const h = harness({ environ: () => env });
    assert.equal(h.wasi.environ_get(100, 1000), SUCCESS);
    assert.deepEqual([0, 1, 2].map((i) => h.view.getUint32(100 + i * 4, true)), [1000, 1004, 1018]);
    const expected = [...new TextEncoder().encode('A=1\0PATH_LIKE=x=y\0É=\0')];
    assert.deepEqual([...h.bytes.subarray(1000, 1000 + expected.length)], expected);
    assert.equal(h.bytes[1000 + expected.length], 0, 'nothing written past the buffer');
    assert.equal(h.view.getUint32(112, true), 0, 'nothing written past the array');
  });

  test('an empty environment has count 0, size 0 and writes nothing', () => {
    const h = harness();
    h.view.setUint32(100, 9, true);
    assert.equal(h.wasi.environ_sizes_get(100, 104), SUCCESS);
    assert.deepEqual([h.view.getUint32(100, true), h.view.getUint32(104, true)], [0, 0]);
    assert.equal(h.wasi.environ_get(OOB + 2, OOB + 2), SUCCESS, 'empty ranges at the end are in bounds');
  });

  test('answer FAULT with nothing written when the array or the buffer would cross the end', () => {
    const h = harness({ environ: () => env });
    assert.equal(h.wasi.environ_get(PAGE - 8, 1000), FAULT);
    assert.equal(h.wasi.environ_get(100, PAGE - 21), FAULT);
    assert.equal(h.view.getUint32(100, true), 0);
    assert.equal(h.bytes[1000], 0);
    assert.equal(h.wasi.environ_sizes_get(OOB, 104), FAULT);
    assert.equal(h.wasi.environ_sizes_get(100, OOB), FAULT);
  });
});

describe('args_sizes_get and args_get', () => {
  test('report no arguments and never write from args_get', () => {
    const h = harness();
    h.view.setUint32(100, 5, true);
    h.view.setUint32(104, 6, true);
    assert.equal(h.wasi.args_sizes_get(100, 104), SUCCESS);
    assert.deepEqual([h.view.getUint32(100, true), h.view.getUint32(104, true)], [0, 0]);
    assert.equal(h.wasi.args_get(OOB, OOB), SUCCESS);
    assert.equal(h.wasi.args_sizes_get(OOB, 104), FAULT);
  });
});

describe('clock_time_get and clock_res_get', () => {
  test('clock 0 is realtime and clock 1 monotonic, as u64 nanoseconds; the i64 precision is ignored', () => {
    const h = harness();
    assert.equal(h.wasi.clock_time_get(0, 1000n, 104), SUCCESS);
    assert.equal(h.view.getBigUint64(104, true), 1_700_000_000_123_456_789n);
    assert.equal(h.wasi.clock_time_get(1, 0n, 200), SUCCESS);
    assert.deepEqual([...h.bytes.subarray(200, 208)], [42, 0, 0, 0, 0, 0, 0, 0]);
  });

  test('other clock ids answer NOTSUP; an out-of-bounds result pointer FAULT', () => {
    const h = harness();
    for (const id of [2, 3, -1]) {
      assert.equal(h.wasi.clock_time_get(id, 0n, 104), NOTSUP);
      assert.equal(h.wasi.clock_res_get(id, 104), NOTSUP);
    }
    assert.equal(h.view.getBigUint64(104, true), 0n);
    assert.equal(h.wasi.clock_time_get(0, 0n, PAGE - 4), FAULT);
    assert.equal(h.wasi.clock_res_get(1, PAGE - 4), FAULT);
  });

  test('both clocks have a resolution of 1 ns', () => {
    const h = harness();
    assert.equal(h.wasi.clock_res_get(0, 104), SUCCESS);
    assert.equal(h.view.getBigUint64(104, true), 1n);
    assert.equal(h.wasi.clock_res_get(1, 112), SUCCESS);
    assert.equal(h.view.getBigUint64(112, true), 1n);
  });
});

describe('random_get', () => {
  test('fills exactly len bytes from the host', () => {
    const h = harness();
    assert.equal(h.wasi.random_get(1000, 16), SUCCESS);
    assert.equal(h.bytes[999], 0);
    assert.ok(h.bytes.subarray(1000, 1016).every((b) => b === 0xab));
    assert.equal(h.bytes[1016], 0);
  });

  test('accepts 65,536 bytes and refuses one more with INVAL', () => {
    const h = harness();
    assert.equal(h.wasi.random_get(0, WASI_MAX_RANDOM_BYTES), SUCCESS);
    assert.equal(h.wasi.random_get(0, WASI_MAX_RANDOM_BYTES + 1), INVAL);
    assert.equal(h.wasi.random_get(0, -1), INVAL, 'len 0xffffffff');
  });

  test('len 0 succeeds without calling the host; a range past the end is FAULT', () => {
    let calls = 0;
    const h = harness({ randomFill: () => void calls++ });
    assert.equal(h.wasi.random_get(-1, 0), SUCCESS);
    assert.equal(h.wasi.random_get(PAGE - 8, 9), FAULT);
    assert.equal(calls, 0);
  });
});

describe('fd_fdstat_get', () => {
  test('writes the 24-byte fdstat with rights_base FD_WRITE for stdout and stderr', () => {
    const h = harness();
    h.bytes.fill(0xff, 96, 136);
    assert.equal(h.wasi.fd_fdstat_get(1, 100), SUCCESS);
    const expected = [0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert.deepEqual([...h.bytes.subarray(100, 124)], expected);
    assert.equal(h.bytes[99], 0xff);
    assert.equal(h.bytes[124], 0xff);
    assert.equal(h.wasi.fd_fdstat_get(2, 200), SUCCESS);
    assert.deepEqual([...h.bytes.subarray(200, 224)], expected);
  });

  test('answers BADF for other fds and FAULT for a struct crossing the end', () => {
    const h = harness();
    assert.equal(h.wasi.fd_fdstat_get(0, 100), BADF);
    assert.equal(h.wasi.fd_fdstat_get(3, 100), BADF);
    assert.equal(h.wasi.fd_fdstat_get(1, PAGE - 23), FAULT);
    assert.equal(h.bytes[100], 0);
  });
});

describe('other fd_* functions', () => {
  test('answer as cpp-host does for stdio and other fds', () => {
    const h = harness();
    const rows: Array<[string, unknown[], number, number]> = [
      // name, args after fd, result for fd 1, result for fd 5
      ['fd_read', [100, 1, 200], NOSYS, NOSYS],
      ['fd_pread', [100, 1, 0n, 200], NOSYS, NOSYS],
      ['fd_fdstat_set_flags', [0], NOSYS, NOSYS],
      ['fd_fdstat_set_rights', [0n, 0n], SUCCESS, BADF],
      ['fd_prestat_get', [100], BADF, BADF],
      ['fd_prestat_dir_name', [100, 4], NOSYS, NOSYS],
      ['fd_filestat_get', [100], BADF, BADF],
      ['fd_advise', [0n, 0n, 0], SUCCESS, SUCCESS],
      ['fd_allocate', [0n, 0n], SUCCESS, BADF],
      ['fd_datasync', [], SUCCESS, BADF],
      ['fd_sync', [], SUCCESS, BADF],
      ['fd_filestat_set_size', [0n], SUCCESS, BADF],
      ['fd_filestat_set_times', [0n, 0n, 0], SUCCESS, BADF],
    ];
    for (const [name, rest, stdio, other] of rows) {
      assert.equal(h.wasi[name](1, ...rest), stdio, `${name}(1)`);
      assert.equal(h.wasi[name](2, ...rest), stdio, `${name}(2)`);
      assert.equal(h.wasi[name](5, ...rest), other, `${name}(5)`);
    }
    assert.deepEqual(h.logs, []);
  });

  test('fd_seek and fd_close succeed without writing and leave a trace line', () => {
    const h = harness();
    h.bytes.fill(0xee, 200, 208);
    assert.equal(h.wasi.fd_seek(1, 10n, 0, 200), SUCCESS);
    assert.equal(h.wasi.fd_close(3), SUCCESS);
    assert.ok(h.bytes.subarray(200, 208).every((b) => b === 0xee));
    assert.deepEqual(h.logs.map(([level]) => level), [LogLevel.Trace, LogLevel.Trace]);
  });

  test('fd_tell writes u64 0 for stdio, BADF otherwise', () => {
    const h = harness();
    h.bytes.fill(0xee, 200, 208);
    assert.equal(h.wasi.fd_tell(1, 200), SUCCESS);
    assert.deepEqual([...h.bytes.subarray(200, 208)], [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(h.wasi.fd_tell(4, 200), BADF);
    assert.equal(h.wasi.fd_tell(2, PAGE - 4), FAULT);
  });

  test('fd_readdir writes bufused 0 and answers 20; fd_renumber is NOTSUP between stdio fds only', () => {
    const h = harness();
    h.view.setUint32(300, 77, true);
    assert.equal(h.wasi.fd_readdir(3, 100, 64, 0n, 300), EXIST);
    assert.equal(h.view.getUint32(300, true), 0);
    assert.equal(h.wasi.fd_readdir(3, 100, 64, 0n, OOB), FAULT);
    assert.equal(h.wasi.fd_renumber(1, 2), NOTSUP);
    assert.equal(h.wasi.fd_renumber(2, 1), NOTSUP);
    assert.equal(h.wasi.fd_renumber(1, 3), BADF);
    assert.equal(h.wasi.fd_renumber(3, 1), BADF);
  });
});

describe('path_*', () => {
  test('path_open is NOENT and every other path call NOTSUP; path_readlink zeroes bufused', () => {
    const h = harness();
    assert.equal(h.wasi.path_open(3, 0, 100, 4, 0, 0n, 0n, 0, 200), NOENT);
    for (const name of [
      'path_create_directory', 'path_filestat_get', 'path_filestat_set_times', 'path_link',
      'path_remove_directory', 'path_rename', 'path_symlink', 'path_unlink_file',
    ]) {
      assert.equal(h.wasi[name](3, 100, 4), NOTSUP, name);
    }
    h.view.setUint32(300, 77, true);
    assert.equal(h.wasi.path_readlink(3, 100, 4, 400, 16, 300), NOTSUP);
    assert.equal(h.view.getUint32(300, true), 0);
    assert.equal(h.wasi.path_readlink(3, 100, 4, 400, 16, OOB), FAULT);
  });
});

describe('sock_*', () => {
  test('zero the out-params and answer NOTSUP', () => {
    const h = harness();
    h.bytes.fill(0xee, 300, 320);
    assert.equal(h.wasi.sock_accept(3, 0, 300), NOTSUP);
    assert.equal(h.view.getUint32(300, true), 0);
    assert.equal(h.wasi.sock_recv(3, 100, 1, 0, 304, 308), NOTSUP);
    assert.equal(h.view.getUint32(304, true), 0);
    assert.deepEqual([...h.bytes.subarray(308, 311)], [0, 0, 0xee], 'ro_flags is a u16');
    assert.equal(h.wasi.sock_send(3, 100, 1, 0, 312), NOTSUP);
    assert.equal(h.view.getUint32(312, true), 0);
    assert.equal(h.wasi.sock_shutdown(3, 0), NOTSUP);
  });

  test('answer FAULT when an out-param is outside memory', () => {
    const h = harness();
    assert.equal(h.wasi.sock_accept(3, 0, OOB), FAULT);
    assert.equal(h.wasi.sock_recv(3, 100, 1, 0, 304, PAGE - 1), FAULT);
    assert.equal(h.view.getUint32(304, true), 0);
    assert.equal(h.wasi.sock_send(3, 100, 1, 0, OOB), FAULT);
  });
});

describe('poll_oneoff, sched_yield, proc_exit, proc_raise', () => {
  test('poll_oneoff reports 0 events at once; sched_yield succeeds', () => {
    const h = harness();
    h.view.setUint32(300, 5, true);
    assert.equal(h.wasi.poll_oneoff(100, 200, 1, 300), SUCCESS);
    assert.equal(h.view.getUint32(300, true), 0);
    assert.equal(h.wasi.poll_oneoff(100, 200, 1, OOB), FAULT);
    assert.equal(h.wasi.sched_yield(), SUCCESS);
    assert.equal(h.wasi.proc_raise(6), NOSYS);
  });

  test('proc_exit hands the unsigned code to the host, whose ProcExit unwinds the call', () => {
    const h = harness();
    assert.throws(
      () => h.wasi.proc_exit(-1),
      (e: unknown) => e instanceof ProcExit && e.code === 0xffffffff,
    );
    assert.deepEqual(h.exits, [0xffffffff]);
  });

  test('proc_exit returns when the host chooses cpp-host behaviour', () => {
    let code = -1;
    const h = harness({ procExit: (c) => void (code = c) });
    h.wasi.proc_exit(255);
    assert.equal(code, 255);
  });
});
