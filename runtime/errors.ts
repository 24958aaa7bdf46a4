/**
 * One error base class for everything Sluice reports about its own inputs (config, modules, CLI).
 * `code` is stable and is what tests and callers match on; the message says what failed, where,
 * what was expected and what was found.
 */
export const ErrorCode = {
  CONFIG_INVALID: 'SLUICE_ERR_CONFIG_INVALID',
  CONFIG_READ: 'SLUICE_ERR_CONFIG_READ',
  CLI_USAGE: 'SLUICE_ERR_CLI_USAGE',
  LISTEN: 'SLUICE_ERR_LISTEN',
  INTERNAL: 'SLUICE_ERR_INTERNAL',
  /** A wasm module does not compile, lacks required exports or imports what Sluice does not provide. */
  WASM_LOAD: 'SLUICE_ERR_WASM_LOAD',
  /** A plugin's `proxy_on_vm_start` / `proxy_on_configure` returned false, or start-up trapped. */
  WASM_PLUGIN_START: 'SLUICE_ERR_WASM_PLUGIN_START',
  BUILD_FAILED: 'SLUICE_ERR_BUILD', // `sluice build` / buildFilter: the filter source does not compile (message lists file:line:col per diagnostic)
  WASM_SANDBOX: 'SLUICE_ERR_WASM_SANDBOX', // binaryen cannot read, meter or validate a module for its sandbox (runtime/wasm/sandbox.ts)
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SluiceError extends Error {
  readonly code: ErrorCode;
  /** The object the error concerns: a file path, a YAML path, a listener name. */
  readonly source: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { source?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.source = options?.source;
  }
}

/** One validation problem: `static_resources.clusters[0].lb_policy: unknown value "ROUND" (line 31)`. */
export interface ConfigProblem {
  /** YAML path, e.g. `static_resources.clusters[0].lb_policy`. */
  path: string;
  message: string;
  /** 1-based source line, when known. */
  line?: number;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.path}: ${p.message}${p.line === undefined ? '' : ` (line ${p.line})`}`;
}

export class ConfigError extends SluiceError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[], source?: string) {
    super(
      ErrorCode.CONFIG_INVALID,
      `invalid config${source ? ` ${source}` : ''}:\n` + problems.map(formatProblem).join('\n'),
      { source },
    );
    this.problems = problems;
  }
}
