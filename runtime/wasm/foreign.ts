import { deflateSync, inflateSync } from 'node:zlib';
import { WasmResult } from '../../abi/enums.ts';
import type { Answer } from '../../abi/host-context.ts';

/**
 * Foreign functions (`proxy_call_foreign_function`, §3.13, §7.8) that Envoy registers and that
 * Sluice implements: `compress` / `uncompress` (zlib, as Envoy) and `clear_route_cache`. Any other
 * name answers NotFound, which is what Envoy answers for a function it does not have.
 */
export interface ForeignHost {
  clearRouteCache(): void;
}

const EMPTY = new Uint8Array(0);
/** Refuses to inflate past this (a zip bomb from a guest must not take the worker's memory). */
const MAX_UNCOMPRESSED = 64 * 1024 * 1024;

export function callForeignFunction(name: string, args: Uint8Array, host: ForeignHost): Answer<Uint8Array> {
  switch (name) {
    case 'compress':
      try {
        return { result: WasmResult.Ok, value: deflateSync(args) };
      } catch {
        return { result: WasmResult.SerializationFailure };
      }
    case 'uncompress':
      try {
        return { result: WasmResult.Ok, value: inflateSync(args, { maxOutputLength: MAX_UNCOMPRESSED }) };
      } catch {
        return { result: WasmResult.SerializationFailure };
      }
    case 'clear_route_cache':
      host.clearRouteCache();
      return { result: WasmResult.Ok, value: EMPTY };
    default:
      return { result: WasmResult.NotFound };
  }
}
