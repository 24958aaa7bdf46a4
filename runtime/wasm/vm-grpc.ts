import { WasmResult } from '../../abi/enums.ts';
import { bytesToLatin1 } from '../../abi/header-pairs.ts';
import type { Answer, GrpcCallRequest, Pairs } from '../../abi/host-context.ts';
import type { Logger } from '../log.ts';
import type { ClusterManager } from '../upstream/cluster.ts';
import { GrpcClientPool, validateGrpcRequest, type GrpcCall, type GrpcMetadata, type GrpcStream, type GrpcTarget } from './grpc-client.ts';
import { parseGrpcUpstream } from './grpc-service.ts';
import { PairsMap } from './pairs-map.ts';
import type { RootContext } from './root-context.ts';
import type { WasmVm } from './vm.ts';

/** gRPC callouts of one worker's VMs (§3.10, §7.2). */
export interface WasmGrpc {
  call(vm: WasmVm, root: RootContext, request: GrpcCallRequest, message: Uint8Array, timeoutMs: number): Answer<number>;
  stream(vm: WasmVm, root: RootContext, request: GrpcCallRequest): Answer<number>;
  send(vm: WasmVm, token: number, message: Uint8Array, endStream: boolean): WasmResult;
  cancel(vm: WasmVm, token: number): WasmResult;
  close(vm: WasmVm, token: number): WasmResult;
  /** Closes every HTTP/2 session (worker shutdown). */
  shutdown(): Promise<void>;
}

interface Entry {
  readonly root: RootContext;
  readonly handle: GrpcCall | GrpcStream;
  readonly stream: boolean;
}

interface VmState {
  nextCall: number;
  nextStream: number;
  readonly calls: Map<number, Entry>;
}

const TOKEN_STEP = 4;

function toPairs(md: GrpcMetadata): Pairs {
  return md.map(([k, v]) => [k, typeof v === 'string' ? v : bytesToLatin1(v)]);
}

/**
 * The gRPC side of the host over HTTP/2 (grpc-client.ts), to a configured cluster. Token scheme as
 * Envoy (§12.11): unary calls 5, 9, 13…; streams 6, 10, 14… per VM. Events go to the caller's
 * root context: a unary call delivers `proxy_on_grpc_receive` on success or `proxy_on_grpc_close`
 * on failure; a stream delivers initial metadata, each message, trailing metadata, then close.
 * Metadata and messages are readable only inside those callbacks (maps 4/5, buffer 5).
 */
export class WorkerGrpc implements WasmGrpc {
  readonly #pool: GrpcClientPool;
  readonly #clusters: () => ClusterManager | undefined;
  readonly #vms = new WeakMap<WasmVm, VmState>();

  constructor(clusters: () => ClusterManager | undefined, log: Logger) {
    this.#clusters = clusters;
    this.#pool = new GrpcClientPool({ onCallbackError: (err) => log.error({ err: (err as Error).message }, 'gRPC callback failed') });
  }

  #state(vm: WasmVm): VmState {
    let s = this.#vms.get(vm);
    if (s === undefined) {
      s = { nextCall: 1, nextStream: 2, calls: new Map() };
      this.#vms.set(vm, s);
    }
    return s;
  }

  #target(request: GrpcCallRequest): { target: GrpcTarget; timeoutMs: number | undefined; metadata: GrpcMetadata } | WasmResult {
    const up = parseGrpcUpstream(request.upstream);
    if (!up.ok) return WasmResult.ParseFailure;
    const cluster = this.#clusters()?.get(up.clusterName);
    if (cluster === undefined) return up.form === 'cluster-name' ? WasmResult.ParseFailure : WasmResult.BadArgument;
    const target: GrpcTarget = {
      authority: up.authority ?? up.clusterName,
      pickHost: () => {
        const h = cluster.pickHost();
        return h === undefined ? undefined : { address: h.address, port: h.port };
      },
    };
    return { target, timeoutMs: up.timeoutMs, metadata: [...up.initialMetadata, ...request.initialMetadata] };
  }

  call(vm: WasmVm, root: RootContext, request: GrpcCallRequest, message: Uint8Array, timeoutMs: number): Answer<number> {
    const t = this.#target(request);
    if (typeof t === 'number') return { result: t as Exclude<WasmResult, 0> };
    const timeout = timeoutMs > 0 ? timeoutMs : t.timeoutMs;
    const req = { target: t.target, service: request.service, method: request.method, initialMetadata: t.metadata, timeoutMs: timeout };
    if (validateGrpcRequest(req) !== undefined) return { result: WasmResult.BadArgument };
    const s = this.#state(vm);
    s.nextCall += TOKEN_STEP;
    const token = s.nextCall;
    const forget = () => {
      s.calls.delete(token);
      root.calls.delete(token);
    };
    const handle = this.#pool.unary(req, message, {
      onInitialMetadata() {},
      onTrailingMetadata() {},
      onMessage: (msg) => {
        forget();
        vm.deliverGrpc(root, 'proxy_on_grpc_receive', [root.id, token, msg.byteLength], { grpcMessage: msg }, { code: 0, message: '' });
      },
      onClose: (status, text) => {
        const known = s.calls.has(token);
        forget();
        if (status !== 0 && known) vm.deliverGrpc(root, 'proxy_on_grpc_close', [root.id, token, status >>> 0], {}, { code: status, message: text });
      },
    });
    s.calls.set(token, { root, handle, stream: false });
    root.calls.set(token, () => handle.cancel());
    return { result: WasmResult.Ok, value: token };
  }

  stream(vm: WasmVm, root: RootContext, request: GrpcCallRequest): Answer<number> {
    const t = this.#target(request);
    if (typeof t === 'number') return { result: t as Exclude<WasmResult, 0> };
    const req = { target: t.target, service: request.service, method: request.method, initialMetadata: t.metadata, timeoutMs: t.timeoutMs };
    if (validateGrpcRequest(req) !== undefined) return { result: WasmResult.BadArgument };
    const s = this.#state(vm);
    s.nextStream += TOKEN_STEP;
    const token = s.nextStream;
    const handle = this.#pool.stream(req, {
      onInitialMetadata: (md) => {
        const pairs = toPairs(md);
        vm.deliverGrpc(root, 'proxy_on_grpc_receive_initial_metadata', [root.id, token, pairs.length], { grpcMetadata: new PairsMap(pairs, false) });
      },
      onMessage: (msg) => {
        vm.deliverGrpc(root, 'proxy_on_grpc_receive', [root.id, token, msg.byteLength], { grpcMessage: msg });
      },
      onTrailingMetadata: (md) => {
        const pairs = toPairs(md);
        vm.deliverGrpc(root, 'proxy_on_grpc_receive_trailing_metadata', [root.id, token, pairs.length], { grpcMetadata: new PairsMap(pairs, false) });
      },
      onClose: (status, text) => {
        s.calls.delete(token);
        root.calls.delete(token);
        vm.deliverGrpc(root, 'proxy_on_grpc_close', [root.id, token, status >>> 0], {}, { code: status, message: text });
      },
    });
    s.calls.set(token, { root, handle, stream: true });
    root.calls.set(token, () => handle.cancel());
    return { result: WasmResult.Ok, value: token };
  }

  send(vm: WasmVm, token: number, message: Uint8Array, endStream: boolean): WasmResult {
    const e = this.#vms.get(vm)?.calls.get(token);
    if (e === undefined) return WasmResult.NotFound;
    if (!e.stream) return WasmResult.BadArgument;
    return (e.handle as GrpcStream).send(message, endStream) ? WasmResult.Ok : WasmResult.InternalFailure;
  }

  cancel(vm: WasmVm, token: number): WasmResult {
    const s = this.#vms.get(vm);
    const e = s?.calls.get(token);
    if (s === undefined || e === undefined) return WasmResult.NotFound;
    e.handle.cancel();
    s.calls.delete(token);
    e.root.calls.delete(token);
    return WasmResult.Ok;
  }

  /** Unary: cancel and forget. Stream: half-close the local side; events continue until the remote closes. */
  close(vm: WasmVm, token: number): WasmResult {
    const s = this.#vms.get(vm);
    const e = s?.calls.get(token);
    if (s === undefined || e === undefined) return WasmResult.NotFound;
    if (!e.stream) return this.cancel(vm, token);
    (e.handle as GrpcStream).close();
    return WasmResult.Ok;
  }

  shutdown(): Promise<void> {
    return this.#pool.close();
  }
}
