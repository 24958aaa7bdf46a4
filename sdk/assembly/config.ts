/**
 * Plugin and VM configuration (proxy-wasm-abi.md §3.5, buffers 6 and 7).
 *
 * Plugin configuration (Envoy `config.configuration`, usually a StringValue) is readable only
 * while the plugin is being configured: in RootContext.onConfigure (and the root context's
 * constructor). Read it there and keep what you need in fields. VM configuration
 * (`vm_config.configuration`) is readable any time; onVmStart is the usual place.
 */
import { BufferType, WasmResult } from "./enums";
import { proxy_get_buffer_bytes } from "./imports";
import { parseJsonBytes, JsonValue } from "./json";
import { clearReturned, dropReturned, RET_PTR, RET_SIZE, takeReturnedBytes } from "./memory";

function readWhole(type: BufferType): ArrayBuffer {
  clearReturned();
  if (proxy_get_buffer_bytes(type, 0, <u32>i32.MAX_VALUE, RET_PTR, RET_SIZE) != WasmResult.Ok) {
    dropReturned();
    return new ArrayBuffer(0);
  }
  return takeReturnedBytes();
}

/** The plugin configuration's bytes; empty when there is none (or outside onConfigure). */
export function getPluginConfiguration(): ArrayBuffer {
  return readWhole(BufferType.PluginConfiguration);
}

/** The plugin configuration as UTF-8 text ("" when none). */
export function getPluginConfigurationString(): string {
  return String.UTF8.decode(getPluginConfiguration());
}

/** The plugin configuration parsed as JSON; null when it is empty or not valid JSON (see jsonError()). */
export function getPluginConfigurationJson(): JsonValue | null {
  return parseJsonBytes(getPluginConfiguration());
}

/** The VM configuration's bytes; empty when there is none. */
export function getVmConfiguration(): ArrayBuffer {
  return readWhole(BufferType.VmConfiguration);
}

/** The VM configuration as UTF-8 text ("" when none). */
export function getVmConfigurationString(): string {
  return String.UTF8.decode(getVmConfiguration());
}

/** The VM configuration parsed as JSON; null when empty or invalid (see jsonError()). */
export function getVmConfigurationJson(): JsonValue | null {
  return parseJsonBytes(getVmConfiguration());
}
