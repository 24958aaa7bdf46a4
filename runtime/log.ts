import { pino, type Logger, type Level } from 'pino';

/**
 * Sluice's own log: pino JSON lines on stdout (fd 1 directly, also from worker threads, so a
 * busy worker never queues log lines through the main thread). One root logger per thread;
 * subsystems take `child({ logger: 'router' })` style children.
 */
export type LogLevel = Level | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

export function createLogger(level: LogLevel, bindings?: Record<string, unknown>): Logger {
  const dest = pino.destination({ dest: 1, sync: false, minLength: 0 });
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

export type { Logger };
