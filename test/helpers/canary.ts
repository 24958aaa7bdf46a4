import { pino } from 'pino';
import { canaryPlugin } from '../../runtime/wasm/canary.ts';
import { compileModule } from '../../runtime/wasm/module.ts';
import type { WasmPluginConfig } from '../../runtime/config/wasm.ts';

export interface CanaryRefusal {
  code: unknown;
  error: string;
  /** The messages the guest logged during start-up. */
  logged: string[];
}

/**
 * Starts a plugin the way Sluice does at load and in `sluice validate` (the canary VM), with
 * `configuration` as its plugin configuration. Returns the refusal with what the guest logged,
 * or undefined when the plugin accepted the configuration. (FilterHarness.load throws on a
 * refused configuration before its logs can be read.)
 */
export function canaryRefusal(wasm: Uint8Array, opts: { rootId: string; file: string }, configuration: string): CanaryRefusal | undefined {
  const logged: string[] = [];
  const log = pino({ level: 'trace', base: undefined, timestamp: false }, { write: (line: string) => void logged.push((JSON.parse(line) as { msg: string }).msg) });
  const plugin = {
    name: opts.rootId,
    rootId: opts.rootId,
    vmId: '',
    configuration: Buffer.from(configuration),
    vmConfiguration: new Uint8Array(0),
    environment: [],
  } as Partial<WasmPluginConfig> as WasmPluginConfig;
  try {
    canaryPlugin(plugin, compileModule(wasm, opts.file), log);
    return undefined;
  } catch (err) {
    return { code: (err as { code?: unknown }).code, error: (err as Error).message, logged };
  }
}
