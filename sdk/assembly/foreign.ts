/**
 * Foreign functions (proxy-wasm-abi.md §3.13, §7.8): named host extensions such as Envoy's
 * `compress`, `uncompress`, `clear_route_cache`.
 */
import { Body } from "./body";
import { BufferType, WasmResult } from "./enums";
import { proxy_call_foreign_function } from "./imports";
import { clearReturned, dropReturned, RET_PTR, RET_SIZE, takeReturnedBytes } from "./memory";

/** Calls host function `name` with `args`; its result (empty if it returns none), or null if it failed or does not exist. */
export function callForeignFunction(name: string, args: ArrayBuffer | null = null): ArrayBuffer | null {
  const n = String.UTF8.encode(name);
  const aPtr: usize = args == null ? 0 : changetype<usize>(args);
  const aLen: usize = args == null ? 0 : <usize>args.byteLength;
  clearReturned();
  if (proxy_call_foreign_function(changetype<usize>(n), <usize>n.byteLength, aPtr, aLen, RET_PTR, RET_SIZE) != WasmResult.Ok) {
    dropReturned();
    return null;
  }
  return takeReturnedBytes();
}

const foreignArguments = new Body(BufferType.ForeignFunctionArguments);

/** Inside Context.onForeignFunction: the arguments the host passed (empty if none). */
export function getForeignFunctionArguments(): ArrayBuffer {
  const bytes = foreignArguments.read();
  return bytes == null ? new ArrayBuffer(0) : bytes;
}
