/**
 * The WASI preview1 imports a proxy-wasm host provides (proxy-wasm-abi.md §8), with the
 * behaviour of proxy-wasm-cpp-host (`src/exports.cc`), which is what SDK binaries are tested
 * against: stdout/stderr become log lines, the environment is the plugin's configured one, clocks
 * and randomness are real, and everything touching files, sockets or processes answers a fixed
 * errno. No file system exists.
 *
 * Contract for the host (the lead's wiring):
 * - Register the object returned by `createWasiImports` under BOTH `wasi_snapshot_preview1` and
 *   `wasi_unstable` (§1); the same functions serve both.
 * - `WasiHost.memory()` returns undefined until the instance has exported its memory. A call that
 *   must read or write guest memory then answers FAULT (21): the guest cannot be inside a call
 *   before instantiation finished, so this only guards a host wiring mistake.
 * - `proc_exit` calls `WasiHost.procExit(code)` and nothing else: the host decides. Sluice throws
 *   `ProcExit` so the current guest call unwinds and is treated as a trap (except `proc_exit(0)`
 *   during `_start`, which may count as normal completion, §8). cpp-host instead logs and
 *   returns; a host that wants that simply returns from `procExit`.
 *
 * Guest-supplied values are untrusted: every i32 is read as unsigned (`>>> 0`, §1), every i64
 * arrives as a BigInt (ignored by every function here), a pointer/size outside linear memory
 * answers FAULT with nothing written, and `fd_write` bounds the iovec count and the bytes it copies.
 * No function throws for a guest mistake.
 *
 * Pure: no project import outside abi/ and no `node:*` module.
 */

import { type GuestMemory, inBounds } from './guest-memory.ts';
import { LogLevel } from './enums.ts';

/** WASI preview1 `errno` values used here (witx names, upper case). */
export const WasiErrno = {
  SUCCESS: 0,
  /** Bad file descriptor: anything but stdout (1) / stderr (2). */
  BADF: 8,
  /** Returned by `fd_readdir`, as cpp-host does (its comment says ENOTDIR, which would be 54). */
  EXIST: 20,
  /** A pointer/size pair outside linear memory (or no memory exported yet). */
  FAULT: 21,
  /** `random_get` above 65,536 bytes; `fd_write` with more iovecs than `WASI_MAX_IOVECS`. */
  INVAL: 28,
  /** `path_open`: there are no files. */
  NOENT: 44,
  NOSYS: 52,
  NOTDIR: 54,
  NOTSUP: 58,
  /** Preview1's capability error. cpp-host's restricted-capability stubs return 76 instead (§8 note). */
  NOTCAPABLE: 75,
} as const;
export type WasiErrno = (typeof WasiErrno)[keyof typeof WasiErrno];

/** WASI clock ids accepted by `clock_time_get` / `clock_res_get`; others answer NOTSUP. */
export const WasiClock = {
  Realtime: 0,
  Monotonic: 1,
} as const;
export type WasiClock = (typeof WasiClock)[keyof typeof WasiClock];

/** `random_get` refuses more than this many bytes with INVAL (cpp-host's limit). */
export const WASI_MAX_RANDOM_BYTES = 65536;
/** `fd_write`/`fd_pwrite` refuse more iovecs than this with INVAL (POSIX IOV_MAX; wasi-libc stays below). */
export const WASI_MAX_IOVECS = 1024;
/**
 * `fd_write`/`fd_pwrite` copy at most this many bytes into one log line; the rest of a longer
 * write is validated and counted in `nwritten` but not logged (a guest that printed 100 MiB should
 * not make the host allocate it). A truncated line keeps its last byte, newline or not.
 */
export const WASI_MAX_WRITE_BYTES = 1024 * 1024;

/** `fdstat.fs_rights_base` cpp-host reports for stdout/stderr: `__WASI_RIGHTS_FD_WRITE`. */
export const WASI_RIGHTS_FD_WRITE = 64n;

/** What the WASI imports need from the host. All methods are called synchronously from a guest call. */
export interface WasiHost {
  /** The instance's memory; undefined before the instance exports it (calls needing it ⇒ FAULT). */
  memory(): GuestMemory | undefined;
  /** One line from `fd_write`: fd 1 at Info, fd 2 at Error; also Trace notes for ignored calls. */
  log(level: LogLevel, message: string): void;
  /** Nanoseconds since the Unix epoch (clock 0). */
  realtimeNs(): bigint;
  /** Nanoseconds from an arbitrary, never-decreasing origin (clock 1). */
  monotonicNs(): bigint;
  /** Fills `bytes` (at most WASI_MAX_RANDOM_BYTES) from a CSPRNG. */
  randomFill(bytes: Uint8Array): void;
  /** The plugin's configured environment (`vm_config.environment_variables`), in order. */
  environ(): ReadonlyArray<readonly [string, string]>;
  /**
   * `proc_exit(code)`. Throw `ProcExit` to unwind the guest call as a trap (Sluice), or return to
   * carry on as cpp-host does (its `proc_exit` logs and returns).
   */
  procExit(code: number): void;
}

/**
 * Thrown by a host's `procExit` so that the guest call unwinds. The code is the guest's exit code
 * (u32). Recognise it with `instanceof ProcExit` where guest calls are made.
 */
export class ProcExit extends Error {
  readonly code: number;

  constructor(code: number) {
    super(`guest called proc_exit(${code})`);
    this.name = 'ProcExit';
    this.code = code;
  }
}

/**
 * A WASI import: numbers (i32, as signed JS numbers) and BigInts (i64) in, an errno out.
 * `proc_exit` has no result in WASI; the engine ignores what its JS function returns.
 */
export type WasiFunction = (...args: any[]) => number;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

function u64Bytes(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
  return out;
}

const U64_ZERO = new Uint8Array(8);

function isStdio(fd: number): boolean {
  return fd === 1 || fd === 2;
}

/**
 * Every WASI preview1 function, keyed by its import name. Behaviour per function is the §8 table
 * (cpp-host); where the table is silent the choice is commented.
 */
export function createWasiImports(host: WasiHost): Record<string, WasiFunction> {
  /** Writes a u32 through a return pointer: SUCCESS, or FAULT (nothing written). */
  const putU32 = (ptr: number, value: number): number => {
    const mem = host.memory();
    return mem !== undefined && mem.writeU32(ptr >>> 0, value) ? WasiErrno.SUCCESS : WasiErrno.FAULT;
  };
  const putBytes = (ptr: number, bytes: Uint8Array): number => {
    const mem = host.memory();
    return mem !== undefined && mem.write(ptr >>> 0, bytes) ? WasiErrno.SUCCESS : WasiErrno.FAULT;
  };

  /**
   * cpp-host's `writevImpl`: fd 1 ⇒ Info, fd 2 ⇒ Error, other ⇒ BADF; iovecs (u32 buf, u32 len)
   * concatenated into one line with one trailing "\n" removed; `nwritten` = total bytes before
   * the strip. An empty write logs nothing.
   */
  const writev = (fdArg: number, iovsArg: number, iovsLenArg: number, retPtrArg: number): number => {
    const fd = fdArg >>> 0;
    if (!isStdio(fd)) return WasiErrno.BADF;
    const mem = host.memory();
    if (mem === undefined) return WasiErrno.FAULT;
    const iovs = iovsArg >>> 0;
    const count = iovsLenArg >>> 0;
    const retPtr = retPtrArg >>> 0;
    if (count > WASI_MAX_IOVECS) return WasiErrno.INVAL;
    const table = mem.read(iovs, count * 8);
    if (table === undefined) return WasiErrno.FAULT;
    const iov = new DataView(table.buffer);
    const parts: Uint8Array[] = [];
    let total = 0;
    let copied = 0;
    for (let i = 0; i < count; i++) {
      const buf = iov.getUint32(i * 8, true);
      const len = iov.getUint32(i * 8 + 4, true);
      if (len === 0) continue;
      // The whole iovec must be in memory even when only part of it is copied.
      if (!inBounds(mem.size, buf, len)) return WasiErrno.FAULT;
      const take = Math.min(len, WASI_MAX_WRITE_BYTES - copied);
      if (take > 0) {
        parts.push(mem.read(buf, take)!);
        copied += take;
      }
      total += len;
    }
    if (total > 0xffffffff) return WasiErrno.INVAL;
    // Checked before logging so that a FAULT has no effect (cpp-host logs, then fails the write).
    if (!inBounds(mem.size, retPtr, 4)) return WasiErrno.FAULT;
    if (total > 0) {
      const bytes = new Uint8Array(copied);
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.byteLength;
      }
      const end = copied === total && bytes[copied - 1] === 0x0a ? copied - 1 : copied;
      host.log(fd === 1 ? LogLevel.Info : LogLevel.Error, decoder.decode(bytes.subarray(0, end)));
    }
    mem.writeU32(retPtr, total);
    return WasiErrno.SUCCESS;
  };

  /** `fd 1/2 ⇒ SUCCESS, else BADF` (allocate, datasync, sync, filestat_set_size/_times, set_rights). */
  const stdioOnly = (fd: number): number => (isStdio(fd >>> 0) ? WasiErrno.SUCCESS : WasiErrno.BADF);
  const notsup = (): number => WasiErrno.NOTSUP;
  const nosys = (): number => WasiErrno.NOSYS;

  const environEntries = (): Uint8Array[] => host.environ().map(([k, v]) => encoder.encode(`${k}=${v}\0`));

  const clockNow = (id: number): bigint | undefined => {
    if (id === WasiClock.Realtime) return host.realtimeNs();
    if (id === WasiClock.Monotonic) return host.monotonicNs();
    return undefined;
  };

  return {
    // ---- args and environment ----
    /** Never writes anything (there are no arguments): SUCCESS. */
    args_get: () => WasiErrno.SUCCESS,
    args_sizes_get: (argcPtr: number, bufSizePtr: number) => {
      const r = putU32(argcPtr, 0);
      return r !== WasiErrno.SUCCESS ? r : putU32(bufSizePtr, 0);
    },
    environ_sizes_get: (countPtr: number, bufSizePtr: number) => {
      const entries = environEntries();
      let size = 0;
      for (const e of entries) size += e.byteLength;
      const r = putU32(countPtr, entries.length);
      return r !== WasiErrno.SUCCESS ? r : putU32(bufSizePtr, size);
    },
    /** Pointer array (one u32 per entry) at `arrayPtr`, `KEY=VALUE\0` strings packed at `bufPtr`. */
    environ_get: (arrayArg: number, bufArg: number) => {
      const mem = host.memory();
      if (mem === undefined) return WasiErrno.FAULT;
      const array = arrayArg >>> 0;
      const buf = bufArg >>> 0;
      const entries = environEntries();
      let size = 0;
      for (const e of entries) size += e.byteLength;
      // Checked up front so that a bad pointer writes nothing (cpp-host may write a prefix).
      if (!inBounds(mem.size, array, entries.length * 4) || !inBounds(mem.size, buf, size)) return WasiErrno.FAULT;
      let at = buf;
      for (let i = 0; i < entries.length; i++) {
        mem.writeU32(array + i * 4, at);
        mem.write(at, entries[i]);
        at += entries[i].byteLength;
      }
      return WasiErrno.SUCCESS;
    },

    // ---- clocks, randomness, scheduling ----
    clock_time_get: (idArg: number, _precision: bigint, retPtr: number) => {
      const now = clockNow(idArg >>> 0);
      return now === undefined ? WasiErrno.NOTSUP : putBytes(retPtr, u64Bytes(now));
    },
    clock_res_get: (idArg: number, retPtr: number) => {
      const id = idArg >>> 0;
      if (id !== WasiClock.Realtime && id !== WasiClock.Monotonic) return WasiErrno.NOTSUP;
      return putBytes(retPtr, u64Bytes(1n));
    },
    random_get: (bufArg: number, lenArg: number) => {
      const len = lenArg >>> 0;
      if (len > WASI_MAX_RANDOM_BYTES) return WasiErrno.INVAL;
      if (len === 0) return WasiErrno.SUCCESS;
      const mem = host.memory();
      const buf = bufArg >>> 0;
      if (mem === undefined || !inBounds(mem.size, buf, len)) return WasiErrno.FAULT;
      const bytes = new Uint8Array(len);
      host.randomFill(bytes);
      mem.write(buf, bytes);
      return WasiErrno.SUCCESS;
    },
    sched_yield: () => WasiErrno.SUCCESS,
    /** Reports no events and returns at once: it never sleeps (Go's wasip1 runtime needs SUCCESS). */
    poll_oneoff: (_in: number, _out: number, _nsubscriptions: number, retNevents: number) => putU32(retNevents, 0),
    proc_exit: (code: number) => {
      host.procExit(code >>> 0);
      return WasiErrno.SUCCESS;
    },
    /** Not in cpp-host's list; preview1 has it, so it is provided (NOSYS) to let such modules link. */
    proc_raise: nosys,

    // ---- file descriptors ----
    fd_write: (fd: number, iovs: number, iovsLen: number, retNwritten: number) => writev(fd, iovs, iovsLen, retNwritten),
    fd_pwrite: (fd: number, iovs: number, iovsLen: number, _offset: bigint, retNwritten: number) =>
      writev(fd, iovs, iovsLen, retNwritten),
    fd_read: nosys,
    fd_pread: nosys,
    // cpp-host "logs an error" through ContextBase::error, which Envoy implements as a trace log.
    fd_seek: () => {
      host.log(LogLevel.Trace, 'wasi fd_seek is not supported');
      return WasiErrno.SUCCESS;
    },
    fd_close: () => {
      host.log(LogLevel.Trace, 'wasi fd_close is not supported');
      return WasiErrno.SUCCESS;
    },
    /** 24 bytes: filetype u8 @0 = 0, flags u16 @2 = 0, rights_base u64 @8 = FD_WRITE, inheriting u64 @16 = 0. */
    fd_fdstat_get: (fd: number, retStat: number) => {
      if (!isStdio(fd >>> 0)) return WasiErrno.BADF;
      const stat = new Uint8Array(24);
      new DataView(stat.buffer).setBigUint64(8, WASI_RIGHTS_FD_WRITE, true);
      return putBytes(retStat, stat);
    },
    fd_fdstat_set_flags: nosys,
    fd_fdstat_set_rights: (fd: number) => stdioOnly(fd),
    /** BADF tells libc there are no preopened directories. */
    fd_prestat_get: () => WasiErrno.BADF,
    fd_prestat_dir_name: nosys,
    fd_filestat_get: () => WasiErrno.BADF,
    fd_advise: () => WasiErrno.SUCCESS,
    fd_allocate: (fd: number) => stdioOnly(fd),
    fd_datasync: (fd: number) => stdioOnly(fd),
    fd_sync: (fd: number) => stdioOnly(fd),
    fd_filestat_set_size: (fd: number) => stdioOnly(fd),
    fd_filestat_set_times: (fd: number) => stdioOnly(fd),
    /** Writes bufused = 0, answers EXIST (20) like cpp-host. */
    fd_readdir: (_fd: number, _buf: number, _bufLen: number, _cookie: bigint, retBufused: number) => {
      const r = putU32(retBufused, 0);
      return r !== WasiErrno.SUCCESS ? r : WasiErrno.EXIST;
    },
    fd_renumber: (fd: number, to: number) => (isStdio(fd >>> 0) && isStdio(to >>> 0) ? WasiErrno.NOTSUP : WasiErrno.BADF),
    fd_tell: (fd: number, retOffset: number) => (isStdio(fd >>> 0) ? putBytes(retOffset, U64_ZERO) : WasiErrno.BADF),

    // ---- paths: there is no file system ----
    path_open: () => WasiErrno.NOENT,
    path_create_directory: notsup,
    path_filestat_get: notsup,
    path_filestat_set_times: notsup,
    path_link: notsup,
    /** Writes bufused = 0 (its 6th argument), then NOTSUP. */
    path_readlink: (_fd: number, _path: number, _pathLen: number, _buf: number, _bufLen: number, retBufused: number) => {
      const r = putU32(retBufused, 0);
      return r !== WasiErrno.SUCCESS ? r : WasiErrno.NOTSUP;
    },
    path_remove_directory: notsup,
    path_rename: notsup,
    path_symlink: notsup,
    path_unlink_file: notsup,

    // ---- sockets: out-params zeroed, then NOTSUP (FAULT if an out-param is outside memory) ----
    sock_accept: (_fd: number, _flags: number, retFd: number) => {
      const r = putU32(retFd, 0);
      return r !== WasiErrno.SUCCESS ? r : WasiErrno.NOTSUP;
    },
    /** ro_datalen is a u32 and ro_flags a u16 in preview1, so 4 and 2 bytes are zeroed. */
    sock_recv: (_fd: number, _riData: number, _riDataLen: number, _riFlags: number, retDatalen: number, retFlags: number) => {
      const mem = host.memory();
      if (mem === undefined || !inBounds(mem.size, retDatalen >>> 0, 4) || !inBounds(mem.size, retFlags >>> 0, 2)) {
        return WasiErrno.FAULT;
      }
      mem.writeU32(retDatalen >>> 0, 0);
      mem.write(retFlags >>> 0, new Uint8Array(2));
      return WasiErrno.NOTSUP;
    },
    sock_send: (_fd: number, _siData: number, _siDataLen: number, _siFlags: number, retDatalen: number) => {
      const r = putU32(retDatalen, 0);
      return r !== WasiErrno.SUCCESS ? r : WasiErrno.NOTSUP;
    },
    sock_shutdown: notsup,
  };
}

