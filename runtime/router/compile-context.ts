import type { ConfigProblem } from '../errors.ts';
import type { StreamInfo } from '../http/stream-info.ts';
import { Re2SyntaxError } from '../re2.ts';

/** Turns a header-value template into a per-stream evaluator; see `RouteTableOptions.compileValue`. */
export type ValueCompiler = (template: string) => ((info: StreamInfo) => string) | undefined;

/**
 * What the route-table compilers share while one `RouteConfiguration` is built: the injected
 * services and the list of problems found so far. Compilers record a problem and carry on, so one
 * load reports every mistake; `RouteTable.compile` throws them together.
 */
export class CompileContext {
  readonly random: () => number;
  readonly compileValue: ValueCompiler | undefined;
  readonly problems: ConfigProblem[] = [];

  constructor(random: () => number, compileValue: ValueCompiler | undefined) {
    this.random = random;
    this.compileValue = compileValue;
  }

  problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /** Runs `build`; a `Re2SyntaxError` becomes a problem at `path` and the result is undefined. */
  regex<T>(path: string, build: () => T): T | undefined {
    try {
      return build();
    } catch (err) {
      if (err instanceof Re2SyntaxError) {
        this.problem(path, err.message);
        return undefined;
      }
      throw err;
    }
  }
}
