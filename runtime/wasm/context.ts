import { WasmResult, type BufferType, type MapType, type StreamType } from '../../abi/enums.ts';
import type { Answer, HostBuffer, HostHeaderMap, LocalResponse } from '../../abi/host-context.ts';
import type { RootContext } from './root-context.ts';

/**
 * A proxy-wasm context inside one VM: a root context (one per plugin) or an HTTP stream context.
 * The VM routes every host call that depends on "the current context" here (after
 * `proxy_set_effective_context`). Defaults are the root context's answers; the stream context
 * overrides what only a stream has (headers, bodies, stream control, local replies).
 *
 * Actions that re-enter the stream are queued and carried out in `afterVmCall`, which the VM runs
 * once the outermost guest call has returned.
 */
export abstract class WasmContext {
  readonly id: number;
  /** Owned by the VM's ContextRegistry. */
  registered = false;
  registryPrev: WasmContext | undefined = undefined;
  registryNext: WasmContext | undefined = undefined;

  constructor(id: number) {
    this.id = id;
  }

  abstract get root(): RootContext;

  /** The stream's filter state / properties (root contexts have no stream: Envoy answers NotFound). */
  getProperty(_path: string[]): Answer<Uint8Array> {
    return { result: WasmResult.NotFound };
  }
  setProperty(_path: string[], _value: Uint8Array): WasmResult {
    return WasmResult.NotFound;
  }
  buffer(_type: BufferType): Answer<HostBuffer> {
    return { result: WasmResult.NotFound };
  }
  headerMap(_type: MapType, _forWrite: boolean): Answer<HostHeaderMap> {
    return { result: WasmResult.BadArgument };
  }
  continueStream(_type: StreamType): WasmResult {
    return WasmResult.NotFound;
  }
  closeStream(_type: StreamType): WasmResult {
    return WasmResult.NotFound;
  }
  sendLocalResponse(_r: LocalResponse): WasmResult {
    return WasmResult.BadArgument;
  }
  clearRouteCache(): WasmResult {
    return WasmResult.Ok;
  }
  /** Runs what the guest queued during the VM call that just returned. */
  afterVmCall(): void {}
}
