/**
 * Logging through the host (`proxy_log`): lines appear in the proxy's own log at their level,
 * tagged with the plugin name. Legal in every callback and during `_initialize`.
 */
import { LogLevel, WasmResult } from "./enums";
import { proxy_get_log_level, proxy_log } from "./imports";
import { RET_NUMBER } from "./memory";

/** Writes `message` at `level`. The host drops it if its log level is higher. */
export function log(level: LogLevel, message: string): void {
  const bytes = String.UTF8.encode(message);
  proxy_log(level, changetype<usize>(bytes), <usize>bytes.byteLength);
}

/** `log(LogLevel.Trace, message)`. */
export function logTrace(message: string): void {
  log(LogLevel.Trace, message);
}

/** `log(LogLevel.Debug, message)`. */
export function logDebug(message: string): void {
  log(LogLevel.Debug, message);
}

/** `log(LogLevel.Info, message)`. */
export function logInfo(message: string): void {
  log(LogLevel.Info, message);
}

/** `log(LogLevel.Warn, message)`. */
export function logWarn(message: string): void {
  log(LogLevel.Warn, message);
}

/** `log(LogLevel.Error, message)`. */
export function logError(message: string): void {
  log(LogLevel.Error, message);
}

/** `log(LogLevel.Critical, message)`. */
export function logCritical(message: string): void {
  log(LogLevel.Critical, message);
}

/**
 * The host's current log level, so a filter can skip building expensive messages. Info when the
 * host cannot tell; clamped to Trace..Critical (Envoy may report 6, "off").
 */
export function getLogLevel(): LogLevel {
  store<u32>(RET_NUMBER, <u32>LogLevel.Info);
  if (proxy_get_log_level(RET_NUMBER) != WasmResult.Ok) return LogLevel.Info;
  const level = load<u32>(RET_NUMBER);
  return level > <u32>LogLevel.Critical ? LogLevel.Critical : <LogLevel>level;
}
