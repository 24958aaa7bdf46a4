/**
 * Bodies and other byte buffers of the host (proxy-wasm-abi.md §3.5).
 *
 * The request body is readable and changeable only inside onRequestBody, the response body only
 * inside onResponseBody. What is there is the current chunk, or, when the previous body callback
 * returned FilterDataStatus.StopIterationAndBuffer, the whole body buffered so far. To see a whole
 * body: return StopIterationAndBuffer until `endOfStream`, then read/replace and return Continue.
 *
 * Changes use the two forms every host supports (Envoy implements only these): replace the whole
 * buffer, prepend (start 0, size 0) and append (start past the end).
 */
import { BufferType, WasmResult } from "./enums";
import { proxy_get_buffer_bytes, proxy_get_buffer_status, proxy_set_buffer_bytes } from "./imports";
import { clearReturned, dropReturned, RET_NUMBER, RET_NUMBER2, RET_PTR, RET_SIZE, takeReturnedBytes } from "./memory";

// "Until the end" for start/size arguments. i32.MAX rather than u32.MAX: some hosts (Go-era ones)
// read these as signed.
const WHOLE: u32 = <u32>i32.MAX_VALUE;

/** One of the host's byte buffers. Use the instances below rather than constructing one. */
export class Body {
  constructor(public readonly type: BufferType) {}

  /** Bytes currently in the buffer; 0 when it is not available in this callback. */
  size(): u32 {
    store<u32>(RET_NUMBER, 0);
    if (proxy_get_buffer_status(this.type, RET_NUMBER, RET_NUMBER2) != WasmResult.Ok) return 0;
    return load<u32>(RET_NUMBER);
  }

  /**
   * Up to `maxSize` bytes from `start` (default: everything). Null when the buffer is not available
   * in this callback; an empty ArrayBuffer when it is empty.
   */
  read(start: u32 = 0, maxSize: u32 = WHOLE): ArrayBuffer | null {
    clearReturned();
    if (proxy_get_buffer_bytes(this.type, start, maxSize, RET_PTR, RET_SIZE) != WasmResult.Ok) {
      dropReturned();
      return null;
    }
    return takeReturnedBytes();
  }

  /** `read()` decoded as UTF-8; null when not available. */
  readString(start: u32 = 0, maxSize: u32 = WHOLE): string | null {
    const bytes = this.read(start, maxSize);
    return bytes == null ? null : String.UTF8.decode(bytes);
  }

  /** Replaces the whole content with `data`. */
  replace(data: ArrayBuffer): WasmResult {
    return <WasmResult>proxy_set_buffer_bytes(this.type, 0, WHOLE, changetype<usize>(data), <usize>data.byteLength);
  }

  /** Replaces the whole content with the UTF-8 bytes of `text`. */
  replaceString(text: string): WasmResult {
    return this.replace(String.UTF8.encode(text));
  }

  /** Appends `data` at the end. */
  append(data: ArrayBuffer): WasmResult {
    return <WasmResult>proxy_set_buffer_bytes(this.type, WHOLE, 0, changetype<usize>(data), <usize>data.byteLength);
  }

  /** Appends the UTF-8 bytes of `text`. */
  appendString(text: string): WasmResult {
    return this.append(String.UTF8.encode(text));
  }

  /** Inserts `data` before the current content. */
  prepend(data: ArrayBuffer): WasmResult {
    return <WasmResult>proxy_set_buffer_bytes(this.type, 0, 0, changetype<usize>(data), <usize>data.byteLength);
  }

  /** Inserts the UTF-8 bytes of `text` before the current content. */
  prependString(text: string): WasmResult {
    return this.prepend(String.UTF8.encode(text));
  }
}

/** The request body: inside onRequestBody only. */
export const requestBody = new Body(BufferType.HttpRequestBody);
/** The response body: inside onResponseBody only. */
export const responseBody = new Body(BufferType.HttpResponseBody);
