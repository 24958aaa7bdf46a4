import type { WasmPluginConfig } from '../config/wasm.ts';
import pino from 'pino';
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
  // What the plugin logs at warn or above while starting is usually why it refused: kept for the error.
  const said: string[] = [];
  const levels: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
  const capture = pino(
    { level: 'trace', base: undefined, timestamp: false },
    {
      write(line: string) {
        const { level, msg, ...rest } = JSON.parse(line) as { level: number; msg?: string };
        const name = levels[level] ?? 'info';
        log[name]({ ...rest, canary: true }, msg ?? '');
        if (level >= 40 && typeof msg === 'string' && msg.startsWith('wasm log: ')) said.push(msg.slice('wasm log: '.length));
      },
    },
  );
  // Throw-away stores: a plugin that registers queues or seeds shared data in proxy_on_configure
  // succeeds here as it will on the workers (which run the same calls against the real stores).
  const sharedData = SharedData.create({ capacityBytes: 1 << 20 });
  const sharedQueues = SharedQueues.create({ capacityBytes: 1 << 20 });
  const vm = new WasmVm(compiled, {
    vmId: config.vmId,
    vmConfiguration: config.vmConfiguration,
    environment: config.environment,
    services: {
      log: capture,
      stats: new StatsStore(256),
      httpCall: () => undefined,
      sharedData,
      sharedQueues,
      manualTicks: true,
    },
  });
  try {
    vm.startRoot({ name: config.name, rootId: config.rootId, vmId: config.vmId, configuration: config.configuration });
  } catch (err) {
    if (err instanceof Error && said.length > 0) err.message += ` — the plugin logged: ${said.slice(-5).join(' | ')}`;
    throw err;
  } finally {
    vm.discard();
    sharedQueues.close();
  }
}
