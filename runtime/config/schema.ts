/**
 * The table-driven field walker every config message is described with.
 *
 * A `Parser<T>` turns one parsed-YAML value into a typed value, reporting problems (with YAML path
 * and line) into the shared `Ctx` instead of throwing, so one load reports every problem. A parser
 * returns `undefined` when its value is unusable; the problem has then already been reported.
 * `raw(node)` renames lowerCamelCase field names to snake_case (for /config_dump) and is only called
 * on input that parsed without problems.
 *
 * `message()` implements Envoy's protobuf-JSON rules in one place: snake_case and lowerCamelCase
 * names, unknown fields are errors, known-but-unimplemented Envoy fields are errors that say so,
 * `null` means unset, oneofs, required fields.
 */
import type { ConfigProblem } from '../errors.ts';
import { parseDuration } from './duration.ts';
import { describeValue, isPlainObject } from './value-kind.ts';
import { lineOf } from './yaml-source.ts';

/** Where a value sits: YAML path (`static_resources.clusters[0].lb_policy`) and 1-based line. */
export interface At {
  readonly path: string;
  readonly line?: number;
}

export interface Ctx {
  readonly problems: ConfigProblem[];
  /** Directory relative DataSource `filename`s are resolved against. */
  readonly baseDir: string;
  /** Facts gathered during the walk for checks that span messages (see `collected`). */
  readonly collected: Map<string, unknown[]>;
}

export interface Parser<T> {
  parse(node: unknown, at: At, ctx: Ctx): T | undefined;
  /** Name normalization for /config_dump; identity when absent. */
  raw?(node: unknown): unknown;
}

export function newCtx(problems: ConfigProblem[], baseDir: string): Ctx {
  return { problems, baseDir, collected: new Map() };
}

export function report(ctx: Ctx, at: At, message: string): void {
  const path = at.path === '' ? '(root)' : at.path;
  ctx.problems.push(at.line === undefined ? { path, message } : { path, message, line: at.line });
}

/** The list of facts of one kind gathered so far (created on first use). */
export function collected<E>(ctx: Ctx, kind: string): E[] {
  let list = ctx.collected.get(kind);
  if (list === undefined) {
    list = [];
    ctx.collected.set(kind, list);
  }
  return list as E[];
}

export function fieldAt(at: At, name: string, line?: number): At {
  return { path: at.path === '' ? name : `${at.path}.${name}`, line: line ?? at.line };
}

export function indexAt(at: At, index: number, line?: number): At {
  return { path: `${at.path}[${index}]`, line: line ?? at.line };
}

export function keyAt(at: At, key: string, line?: number): At {
  return { path: `${at.path}[${JSON.stringify(key)}]`, line: line ?? at.line };
}

export function rawOf(parser: Parser<unknown>, node: unknown): unknown {
  return parser.raw === undefined ? node : parser.raw(node);
}

// ---------- scalars ----------

/** A parser from a check that returns the value or a problem message. */
export function scalar<T>(check: (node: unknown) => { value: T } | string): Parser<T> {
  return {
    parse(node, at, ctx) {
      const r = check(node);
      if (typeof r === 'string') {
        report(ctx, at, r);
        return undefined;
      }
      return r.value;
    },
  };
}

/** Adds a value check (returning a problem message or undefined) to a parser. */
export function refine<T>(parser: Parser<T>, check: (value: T, at: At, ctx: Ctx) => string | undefined): Parser<T> {
  return {
    parse(node, at, ctx) {
      const value = parser.parse(node, at, ctx);
      if (value === undefined) return undefined;
      const message = check(value, at, ctx);
      if (message === undefined) return value;
      report(ctx, at, message);
      return undefined;
    },
    raw: parser.raw,
  };
}

export function str(opts: { minLen?: number } = {}): Parser<string> {
  return scalar((v) => {
    if (typeof v !== 'string') {
      const hint = typeof v === 'number' || typeof v === 'boolean' ? ' (quote it in YAML)' : '';
      return `expected a string, got ${describeValue(v)}${hint}`;
    }
    if (v.length < (opts.minLen ?? 0)) return 'must not be empty';
    return { value: v };
  });
}

export const bool: Parser<boolean> = scalar((v) =>
  typeof v === 'boolean' ? { value: v } : `expected true or false, got ${describeValue(v)}`,
);

const UINT32_MAX = 4_294_967_295;

/** Integer fields; protobuf JSON also accepts them as decimal strings. */
export function int(opts: { min?: number; max?: number } = {}): Parser<number> {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  return scalar((v) => {
    const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) return `expected an integer, got ${describeValue(v)}`;
    if (n < min || n > max) return `must be ${rangeText(min, max)}, got ${n}`;
    return { value: n };
  });
}

export function uint32(opts: { min?: number; max?: number } = {}): Parser<number> {
  return int({ min: opts.min ?? 0, max: opts.max ?? UINT32_MAX });
}

export const double: Parser<number> = scalar((v) =>
  typeof v === 'number' && !Number.isNaN(v) ? { value: v } : `expected a number, got ${describeValue(v)}`,
);

/** Duration → milliseconds. `positive`: must be > 0; `min`/`max` in ms. */
export function duration(opts: { positive?: boolean; min?: number; max?: number } = {}): Parser<number> {
  return scalar((v) => {
    const r = parseDuration(v);
    if ('error' in r) return r.error;
    if (opts.positive && r.ms <= 0) return 'must be greater than 0s';
    if (r.ms < (opts.min ?? 0) || r.ms > (opts.max ?? Infinity)) {
      return `must be ${rangeText((opts.min ?? 0) / 1000, (opts.max ?? Infinity) / 1000, 's')}, got ${r.ms / 1000}s`;
    }
    return { value: r.ms };
  });
}

/**
 * Enum by name, case-insensitively (Envoy's own examples write `round_robin`), normalized to upper
 * case. `unsupported` names are real Envoy values Sluice does not implement.
 */
export function enumOf<T extends string>(values: readonly T[], unsupported: readonly string[] = []): Parser<T> {
  const known = new Set<string>(values);
  const notImplemented = new Set(unsupported);
  return scalar((v) => {
    if (typeof v !== 'string') return `expected one of ${values.join(', ')}, got ${describeValue(v)}`;
    const name = v.toUpperCase();
    if (known.has(name)) return { value: name as T };
    if (notImplemented.has(name)) return `value "${name}" is not supported by Sluice; supported: ${values.join(', ')}`;
    return `unknown value "${v}"; expected one of ${values.join(', ')}`;
  });
}

/** `google.protobuf.Struct`: any object, kept verbatim (its keys are data, not field names). */
export const struct: Parser<Record<string, unknown>> = scalar((v) =>
  isPlainObject(v) ? { value: v } : `expected an object, got ${describeValue(v)}`,
);

function rangeText(min: number, max: number, unit = ''): string {
  if (max === Infinity || max >= Number.MAX_SAFE_INTEGER) return `at least ${min}${unit}`;
  if (min <= Number.MIN_SAFE_INTEGER) return `at most ${max}${unit}`;
  return `between ${min}${unit} and ${max}${unit}`;
}

// ---------- containers ----------

/** Repeated field. A single value where a list is expected is read as a one-element list. */
export function list<T>(item: Parser<T>, opts: { min?: number } = {}): Parser<T[]> {
  return {
    parse(node, at, ctx) {
      const isList = Array.isArray(node);
      const items: unknown[] = isList ? node : [node];
      const out: T[] = [];
      items.forEach((v, i) => {
        const r = item.parse(v, indexAt(at, i, isList ? lineOf(node, i) : at.line), ctx);
        if (r !== undefined) out.push(r);
      });
      const min = opts.min ?? 0;
      if (items.length < min) report(ctx, at, `expected at least ${min} ${min === 1 ? 'entry' : 'entries'}`);
      return out;
    },
    raw(node) {
      return (Array.isArray(node) ? node : [node]).map((v) => rawOf(item, v));
    },
  };
}

/** `map<string, T>`: keys are data and keep their spelling. */
export function mapOf<T>(value: Parser<T>): Parser<Record<string, T>> {
  return {
    parse(node, at, ctx) {
      if (!isPlainObject(node)) {
        report(ctx, at, `expected an object, got ${describeValue(node)}`);
        return undefined;
      }
      const out: Record<string, T> = {};
      for (const [key, v] of Object.entries(node)) {
        const r = value.parse(v, keyAt(at, key, lineOf(node, key)), ctx);
        if (r !== undefined) out[key] = r;
      }
      return out;
    },
    raw(node) {
      if (!isPlainObject(node)) return node;
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, rawOf(value, v)]));
    },
  };
}

/**
 * Runs `parser`, then hands `check` the facts of the `collected` kinds that this parse added — for
 * checks scoped to one message (domains within a route table, endpoints of a cluster).
 */
export function scoped<T>(
  parser: Parser<T>,
  check: (value: T | undefined, scope: Scope, at: At, ctx: Ctx) => void,
): Parser<T> {
  return {
    parse(node, at, ctx) {
      const starts = new Map([...ctx.collected].map(([kind, entries]) => [kind, entries.length]));
      const value = parser.parse(node, at, ctx);
      check(value, new Scope(ctx, starts), at, ctx);
      return value;
    },
    raw: parser.raw,
  };
}

export class Scope {
  private readonly ctx: Ctx;
  private readonly starts: Map<string, number>;
  constructor(ctx: Ctx, starts: Map<string, number>) {
    this.ctx = ctx;
    this.starts = starts;
  }
  found<E>(kind: string): E[] {
    return collected<E>(this.ctx, kind).slice(this.starts.get(kind) ?? 0);
  }
  /** Forgets what this scope added (e.g. cluster references of a table with validate_clusters: false). */
  discard(kind: string): void {
    collected(this.ctx, kind).length = this.starts.get(kind) ?? 0;
  }
}

// ---------- messages ----------

export type ParserValue<P> = P extends Parser<infer T> ? T : never;
export type Fields<F> = { -readonly [K in keyof F]?: ParserValue<F[K]> };

export interface OneOf {
  readonly fields: readonly string[];
  /** Exactly one (instead of at most one) must be set. */
  readonly required?: boolean;
}

export interface MessageCtx {
  readonly at: At;
  readonly ctx: Ctx;
  /** Path and line of one of this message's fields, or of an entry (list index / map key) in it. */
  loc(field: string, entry?: number | string): At;
  /** The field was given (non-null), whether or not its value was valid. */
  has(field: string): boolean;
}

export interface MessageSpec<F extends Record<string, Parser<unknown>>, T> {
  readonly fields: F;
  /** Envoy fields of this message that Sluice does not implement: named in the error. */
  readonly unsupported?: readonly string[];
  readonly required?: readonly (keyof F & string)[];
  readonly oneOf?: readonly OneOf[];
  /** Turns the parsed fields into the typed value; runs even when some fields were invalid. */
  readonly build?: (f: Fields<F>, m: MessageCtx) => T | undefined;
}

export function message<F extends Record<string, Parser<unknown>>, T = Fields<F>>(spec: MessageSpec<F, T>): Parser<T> {
  const names = new FieldNames(Object.keys(spec.fields), spec.unsupported ?? []);
  const unsupported = new Set(spec.unsupported ?? []);
  return {
    parse(node, at, ctx) {
      if (!isPlainObject(node)) {
        report(ctx, at, `expected an object, got ${describeValue(node)}`);
        return undefined;
      }
      const keyOf = new Map<string, string>();
      const f: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(node)) {
        const name = names.resolve(key);
        const fieldLoc = fieldAt(at, name ?? key, lineOf(node, key));
        if (name === undefined) {
          report(ctx, fieldLoc, `unknown field "${key}"`);
          continue;
        }
        if (keyOf.has(name)) {
          report(ctx, fieldLoc, `field "${name}" is given twice (as "${keyOf.get(name)}" and "${key}")`);
          continue;
        }
        if (value === null) continue;
        keyOf.set(name, key);
        const parser = spec.fields[name];
        if (parser === undefined) {
          report(ctx, fieldLoc, `field "${name}" is an Envoy field Sluice does not support`);
          continue;
        }
        const parsed = parser.parse(value, fieldLoc, ctx);
        if (parsed !== undefined) f[name] = parsed;
      }
      const m = messageCtx(node, at, ctx, keyOf);
      checkPresence(spec, unsupported, m, keyOf);
      return spec.build === undefined ? (f as T) : spec.build(f as Fields<F>, m);
    },
    raw(node) {
      if (!isPlainObject(node)) return node;
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(node)) {
        if (value === null) continue;
        const name = names.resolve(key) ?? key;
        const parser = spec.fields[name];
        out[name] = parser === undefined ? value : rawOf(parser, value);
      }
      return out;
    },
  };
}

/** A message's field names, findable by their snake_case or lowerCamelCase spelling. */
class FieldNames {
  private readonly byKey = new Map<string, string>();
  constructor(supported: readonly string[], unsupported: readonly string[]) {
    for (const name of [...supported, ...unsupported]) {
      this.byKey.set(name, name);
      this.byKey.set(lowerCamel(name), name);
    }
  }
  resolve(key: string): string | undefined {
    return this.byKey.get(key);
  }
}

/** protobuf's JSON name: `port_value` → `portValue`, `accept_http_10` → `acceptHttp10`. */
export function lowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function messageCtx(node: Record<string, unknown>, at: At, ctx: Ctx, keyOf: Map<string, string>): MessageCtx {
  return {
    at,
    ctx,
    has: (field) => keyOf.has(field),
    loc(field, entry) {
      const key = keyOf.get(field);
      const here = fieldAt(at, field, key === undefined ? undefined : lineOf(node, key));
      if (entry === undefined) return here;
      const container = key === undefined ? undefined : node[key];
      const line = lineOf(container, entry) ?? here.line;
      return typeof entry === 'number' ? indexAt(here, entry, line) : keyAt(here, entry, line);
    },
  };
}

function checkPresence(
  spec: { required?: readonly string[]; oneOf?: readonly OneOf[] },
  unsupported: ReadonlySet<string>,
  m: MessageCtx,
  keyOf: Map<string, string>,
): void {
  for (const name of spec.required ?? []) {
    if (!keyOf.has(name)) report(m.ctx, fieldAt(m.at, name), `missing required field "${name}"`);
  }
  for (const group of spec.oneOf ?? []) {
    const given = group.fields.filter((f) => keyOf.has(f));
    // An unsupported member is already reported; a conflict with it would be noise.
    const supported = given.filter((f) => !unsupported.has(f));
    if (supported.length > 1) {
      report(m.ctx, m.loc(supported[1]), `only one of ${group.fields.join(', ')} may be set; found "${supported[0]}" and "${supported[1]}"`);
    } else if (given.length === 0 && group.required) {
      report(m.ctx, m.at, `one of ${group.fields.join(', ')} is required`);
    }
  }
}
