import { BufferType, WasmResult } from '../../abi/enums.ts';
import type { Answer, HostBuffer } from '../../abi/host-context.ts';
import { WasmContext } from './context.ts';
import type { WasmVm } from './vm.ts';

/** What a root context knows about the plugin it serves (Envoy PluginConfig). */
export interface PluginInfo {
  readonly name: string;
  readonly rootId: string;
  readonly vmId: string;
  readonly configuration: Uint8Array;
}

/**
 * A plugin's root context in one VM: created by `proxy_on_context_create(R, 0)`, started by
 * `proxy_on_vm_start` / `proxy_on_configure`, and the owner of everything that outlives a stream:
 * its tick timer, http calls, gRPC calls and the last call status (`proxy_get_status`).
 */
export class RootContext extends WasmContext {
  readonly vm: WasmVm;
  readonly plugin: PluginInfo;
  /** True during `proxy_on_context_create` / `proxy_on_configure`: plugin configuration is readable. */
  configuring = false;
  /** `proxy_get_status`: the code keeps its last value, the message is cleared after each callback. */
  statusCode = 0;
  statusMessage: Uint8Array = new Uint8Array(0);
  #tickMs = 0;
  #tick: NodeJS.Timeout | undefined;
  readonly calls = new Map<number, () => void>();
  #closed = false;

  constructor(id: number, vm: WasmVm, plugin: PluginInfo) {
    super(id);
    this.vm = vm;
    this.plugin = plugin;
  }

  get root(): RootContext {
    return this;
  }

  get closed(): boolean {
    return this.#closed;
  }

  override buffer(type: BufferType): Answer<HostBuffer> {
    if (type === BufferType.PluginConfiguration && this.configuring) {
      const bytes = this.plugin.configuration;
      return { result: WasmResult.Ok, value: { bytes: () => bytes } };
    }
    return { result: WasmResult.NotFound };
  }

  get tickPeriodMs(): number {
    return this.#tickMs;
  }

  /** Envoy: one period per root context; re-armed after each `proxy_on_tick`; 0 cancels. */
  setTickPeriod(ms: number): void {
    this.#tickMs = ms;
    if (this.#tick !== undefined) clearTimeout(this.#tick);
    this.#tick = undefined;
    if (ms > 0 && !this.#closed && !this.vm.manualTicks) this.#armTick();
  }

  #armTick(): void {
    this.#tick = setTimeout(() => {
      this.#tick = undefined;
      if (this.#closed || this.vm.failed) return;
      this.vm.deliver(this, 'proxy_on_tick', [this.id]);
      if (this.#tickMs > 0 && this.#tick === undefined && !this.#closed) this.#armTick();
    }, this.#tickMs);
    this.#tick.unref();
  }

  /** The plugin is going away (VM retired or failed): stop timers, cancel calls. */
  close(): void {
    this.#closed = true;
    if (this.#tick !== undefined) clearTimeout(this.#tick);
    this.#tick = undefined;
    for (const cancel of this.calls.values()) cancel();
    this.calls.clear();
  }
}
