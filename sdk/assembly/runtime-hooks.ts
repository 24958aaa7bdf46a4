/**
 * Replacements for the AssemblyScript runtime's own imports (`env.abort`, `env.trace`, `env.seed`),
 * selected in asconfig.json with `--use abort=__sluice_abort,trace=__sluice_trace,seed=__sluice_seed`.
 *
 * Why: a plain AS build imports those three from `env`; Envoy provides none of them, so such a
 * module fails to load there ("missing import"). Routed through standard proxy-wasm calls instead,
 * a filter's import list stays within ABI 0.2.1 and the same binary runs in Envoy and in Sluice.
 *
 * `abort` is what `throw`, a failed `assert`, an out-of-bounds array access and running out of
 * memory end in. It logs one line at Critical through proxy_log (the host shows it in its log with
 * the plugin name), then traps: the host fails the stream per its failure policy and replaces the VM.
 */
import { proxy_get_current_time_nanoseconds, proxy_log } from "./imports";
import { RET_NUMBER } from "./memory";

// Set while an abort is being reported: if building the message aborts again (out of memory), trap at once.
let aborting = false;

// @ts-ignore: decorator
@global
export function __sluice_abort(message: string | null, fileName: string | null, lineNumber: u32, columnNumber: u32): void {
  if (!aborting) {
    aborting = true;
    let text = message == null ? "abort" : message;
    if (fileName != null) text += " (at " + fileName + ":" + lineNumber.toString() + ":" + columnNumber.toString() + ")";
    const bytes = String.UTF8.encode("filter aborted: " + text);
    proxy_log(5 /* Critical */, changetype<usize>(bytes), <usize>bytes.byteLength);
  }
  unreachable();
}

// @ts-ignore: decorator
@global
export function __sluice_trace(message: string, n: i32 = 0, a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, a4: f64 = 0): void {
  let text = "trace: " + message;
  if (n > 0) text += " " + a0.toString();
  if (n > 1) text += ", " + a1.toString();
  if (n > 2) text += ", " + a2.toString();
  if (n > 3) text += ", " + a3.toString();
  if (n > 4) text += ", " + a4.toString();
  const bytes = String.UTF8.encode(text);
  proxy_log(1 /* Debug */, changetype<usize>(bytes), <usize>bytes.byteLength);
}

// @ts-ignore: decorator
@global
export function __sluice_seed(): f64 {
  // Math.random's seed (not cryptographic; neither is Math.random). Envoy refuses this call during
  // _initialize (top-level code), so call Math.random from callbacks only.
  store<u64>(RET_NUMBER, 0);
  proxy_get_current_time_nanoseconds(RET_NUMBER);
  return <f64>load<u64>(RET_NUMBER);
}
