import type { WasmResult } from '../../abi/enums.ts';
import type { Answer, GrpcCallRequest } from '../../abi/host-context.ts';
import type { RootContext } from './root-context.ts';
import type { WasmVm } from './vm.ts';

/** gRPC callouts of one worker's VMs (§3.10, §7.2). */
export interface WasmGrpc {
  call(vm: WasmVm, root: RootContext, request: GrpcCallRequest, message: Uint8Array, timeoutMs: number): Answer<number>;
  stream(vm: WasmVm, root: RootContext, request: GrpcCallRequest): Answer<number>;
  send(vm: WasmVm, token: number, message: Uint8Array, endStream: boolean): WasmResult;
  cancel(vm: WasmVm, token: number): WasmResult;
  close(vm: WasmVm, token: number): WasmResult;
}
