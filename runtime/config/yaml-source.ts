/**
 * YAML text → plain JS values, remembering the 1-based source line of every map key and list item
 * so that config problems can name the line they are about.
 *
 * Lines are kept in a module-level WeakMap keyed by the produced objects/arrays: any module holding a
 * parsed value (e.g. a filter validating its `typed_config.value`) can ask `lineOf(obj, key)`.
 * Envoy conventions honoured here: anchors/aliases, `<<` merge keys, and keys tagged `!ignore`
 * (Envoy drops them; configs use them to hold anchors).
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node as YamlNode, YAMLMap, YAMLSeq } from 'yaml';
import type { ConfigProblem } from '../errors.ts';
import { isPlainObject } from './value-kind.ts';

interface SourceLines {
  line: number | undefined;
  entries: Map<string | number, number>;
}

const LINES = new WeakMap<object, SourceLines>();

/** Line of `key` (map key or list index) inside `container`, else the container's own line. */
export function lineOf(container: unknown, key?: string | number): number | undefined {
  if (typeof container !== 'object' || container === null) return undefined;
  const lines = LINES.get(container);
  if (lines === undefined) return undefined;
  return key === undefined ? lines.line : (lines.entries.get(key) ?? lines.line);
}

/** Makes `target` (e.g. a copy without `@type`) report the lines of `source`. */
export function inheritLines(target: object, source: object): void {
  const lines = LINES.get(source);
  if (lines !== undefined) LINES.set(target, lines);
}

export interface ParsedYaml {
  value: unknown;
  problems: ConfigProblem[];
}

export function parseYaml(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const line = e.linePos?.[0].line;
      const message = `invalid YAML: ${e.message.split('\n')[0]}`;
      return line === undefined ? { path: '(yaml)', message } : { path: '(yaml)', message, line };
    });
    return { value: undefined, problems };
  }
  return { value: new Converter(doc, lineCounter).convert(doc.contents), problems: [] };
}

class Converter {
  private readonly doc: Document;
  private readonly lines: LineCounter;
  /** Aliases share the object built for their anchor. */
  private readonly done = new Map<YamlNode, unknown>();

  constructor(doc: Document, lines: LineCounter) {
    this.doc = doc;
    this.lines = lines;
  }

  convert(node: unknown): unknown {
    if (isAlias(node)) return this.convert(node.resolve(this.doc));
    if (isScalar(node)) return node.value;
    if (isMap(node) || isSeq(node)) {
      const seen = this.done.get(node);
      if (seen !== undefined) return seen;
      return isMap(node) ? this.convertMap(node) : this.convertSeq(node);
    }
    return null;
  }

  private lineAt(node: unknown): number | undefined {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range === undefined ? undefined : this.lines.linePos(range[0]).line;
  }

  private convertMap(node: YAMLMap): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const lines: SourceLines = { line: this.lineAt(node), entries: new Map() };
    this.done.set(node, out);
    LINES.set(out, lines);
    const merges: unknown[] = [];
    for (const pair of node.items) {
      if (isScalar(pair.key) && pair.key.tag === '!ignore') continue;
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      const value = this.convert(pair.value);
      if (key === '<<') {
        merges.push(...(Array.isArray(value) ? value : [value]));
        continue;
      }
      define(out, key, value);
      const line = this.lineAt(pair.key);
      if (line !== undefined) lines.entries.set(key, line);
    }
    for (const source of merges) mergeInto(out, lines, source);
    return out;
  }

  private convertSeq(node: YAMLSeq): unknown[] {
    const out: unknown[] = [];
    const lines: SourceLines = { line: this.lineAt(node), entries: new Map() };
    this.done.set(node, out);
    LINES.set(out, lines);
    node.items.forEach((item, i) => {
      out.push(this.convert(item));
      const line = this.lineAt(item);
      if (line !== undefined) lines.entries.set(i, line);
    });
    return out;
  }
}

/** `<<: *anchor` — explicit keys win over merged ones (YAML merge-key semantics). */
function mergeInto(out: Record<string, unknown>, lines: SourceLines, source: unknown): void {
  if (!isPlainObject(source)) return;
  const sourceLines = LINES.get(source);
  for (const [key, value] of Object.entries(source)) {
    if (Object.hasOwn(out, key)) continue;
    define(out, key, value);
    const line = sourceLines?.entries.get(key);
    if (line !== undefined) lines.entries.set(key, line);
  }
}

/** Plain assignment would treat a `__proto__` key specially. */
function define(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
