import type { WasmPluginConfig } from '../config/wasm.ts';
import type { Logger } from '../log.ts';
import { StatsStore } from '../stats/store.ts';
import type { CompiledModule } from './module.ts';
import { WasmVm } from './vm.ts';
import { SharedData } from './shared-data.ts';
import { SharedQueues } from './shared-queues.ts';

/**
 * Envoy's canary (§6.1 step 4): before any worker gets a plugin, a throw-away VM runs
 * `_initialize`, `proxy_on_vm_start` and `proxy_on_configure` for it, so a plugin that rejects its
 * configuration is refused at load (and by `sluice validate`) rather than on a worker. The canary
 * is discarded without on_done/on_delete. Throws the SluiceError that start-up produced.
 */
export function canaryPlugin(config: WasmPluginConfig, compiled: CompiledModule, log: Logger): void {
  // Throw-away stores: a plugin that registers queues or seeds shared data in proxy_on_configure
  // succeeds here as it will on the workers (which run the same calls against the real stores).
  const sharedData = SharedData.create({ capacityBytes: 1 << 20 });
  const sharedQueues = SharedQueues.create({ capacityBytes: 1 << 20 });
  const vm = new WasmVm(compiled, {
    vmId: config.vmId,
    vmConfiguration: config.vmConfiguration,
    environment: config.environment,
    services: {
      log: log.child({ canary: true }),
      stats: new StatsStore(256),
      httpCall: () => undefined,
      sharedData,
      sharedQueues,
      manualTicks: true,
    },
  });
  try {
    vm.startRoot({ name: config.name, rootId: config.rootId, vmId: config.vmId, configuration: config.configuration });
  } finally {
    vm.discard();
    sharedQueues.close();
  }
}
