/**
 * The last call status of the root context (`proxy_get_status`, proxy-wasm-abi.md §3.8): why an
 * http call failed (BrokenConnection, "reset") or how a gRPC call closed. Internal: the SDK reads
 * it into HttpCallResponse / GrpcCallResponse for you.
 */
import { WasmResult } from "./enums";
import { proxy_get_status } from "./imports";
import { clearReturned, dropReturned, RET_NUMBER, RET_PTR, RET_SIZE, takeReturnedBytes } from "./memory";

export class CallStatus {
  constructor(public code: u32, public message: string) {}
}

export function getCallStatus(): CallStatus {
  store<u32>(RET_NUMBER, 0);
  clearReturned();
  if (proxy_get_status(RET_NUMBER, RET_PTR, RET_SIZE) != WasmResult.Ok) {
    dropReturned();
    return new CallStatus(0, "");
  }
  const code = load<u32>(RET_NUMBER);
  return new CallStatus(code, String.UTF8.decode(takeReturnedBytes()));
}
