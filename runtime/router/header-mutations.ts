import type { AppendAction, HeaderValueOption } from '../config/types.ts';
import type { HeaderMap } from '../http/header-map.ts';
import type { StreamInfo } from '../http/stream-info.ts';
import type { ValueCompiler } from './compile-context.ts';

const Action = {
  Append: 0,
  AddIfAbsent: 1,
  OverwriteOrAdd: 2,
  OverwriteIfExists: 3,
} as const;
type Action = (typeof Action)[keyof typeof Action];

const ACTIONS: Record<AppendAction, Action> = {
  APPEND_IF_EXISTS_OR_ADD: Action.Append,
  ADD_IF_ABSENT: Action.AddIfAbsent,
  OVERWRITE_IF_EXISTS_OR_ADD: Action.OverwriteOrAdd,
  OVERWRITE_IF_EXISTS: Action.OverwriteIfExists,
};

interface AddEntry {
  readonly key: string;
  readonly action: Action;
  readonly keepEmpty: boolean;
  /** The value when it has no `%COMMAND%` operators. */
  readonly literal: string | undefined;
  readonly format: ((info: StreamInfo) => string) | undefined;
}

/** Pseudo-headers and `host` cannot be added or removed by header mutations (Envoy rejects them). */
function isModifiable(name: string): boolean {
  return name.length > 0 && name.charCodeAt(0) !== 58 /* : */ && name !== 'host';
}

/**
 * One level's `*_headers_to_add` / `*_headers_to_remove` (Envoy's `HeaderParser`), applied as Envoy
 * does it:
 * 1. remove every listed header;
 * 2. evaluate every value and decide, against the headers as they are **before** this level adds
 *    anything: `APPEND_IF_EXISTS_OR_ADD` → add; `ADD_IF_ABSENT` → add when absent;
 *    `OVERWRITE_IF_EXISTS_OR_ADD` → set; `OVERWRITE_IF_EXISTS` → set when present; an empty value
 *    is dropped unless `keep_empty_value`;
 * 3. apply the sets, then the adds, in config order.
 * Pseudo-headers and `host` are skipped (the config loader may reject them first).
 */
export class HeaderMutationSet {
  static readonly EMPTY = new HeaderMutationSet([], []);

  readonly #remove: readonly string[];
  readonly #add: readonly AddEntry[];
  /** All values literal and all actions unconditional: no per-call scratch array is needed. */
  readonly #simple: boolean;

  private constructor(remove: readonly string[], add: readonly AddEntry[]) {
    this.#remove = remove;
    this.#add = add;
    this.#simple = add.every(
      (e) => e.literal !== undefined && (e.action === Action.Append || e.action === Action.OverwriteOrAdd),
    );
  }

  static compile(
    add: readonly HeaderValueOption[] | undefined,
    remove: readonly string[] | undefined,
    compileValue: ValueCompiler | undefined,
  ): HeaderMutationSet {
    const removeList = (remove ?? []).map((n) => n.toLowerCase()).filter(isModifiable);
    const addList: AddEntry[] = [];
    for (const o of add ?? []) {
      const key = o.header.key.toLowerCase();
      if (!isModifiable(key)) continue;
      const template = o.header.value ?? '';
      const format = compileValue?.(template);
      addList.push({
        key,
        action: ACTIONS[o.append_action ?? 'APPEND_IF_EXISTS_OR_ADD'],
        keepEmpty: o.keep_empty_value === true,
        literal: format === undefined ? template.replaceAll('%%', '%') : undefined,
        format,
      });
    }
    if (removeList.length === 0 && addList.length === 0) return HeaderMutationSet.EMPTY;
    return new HeaderMutationSet(removeList, addList);
  }

  get isEmpty(): boolean {
    return this.#remove.length === 0 && this.#add.length === 0;
  }

  apply(headers: HeaderMap, info: StreamInfo): void {
    const remove = this.#remove;
    for (let i = 0; i < remove.length; i++) headers.remove(remove[i]);
    const add = this.#add;
    if (add.length === 0) return;
    if (this.#simple) {
      for (let i = 0; i < add.length; i++) {
        const e = add[i];
        if (e.action === Action.OverwriteOrAdd && (e.keepEmpty || e.literal !== '')) headers.set(e.key, e.literal as string);
      }
      for (let i = 0; i < add.length; i++) {
        const e = add[i];
        if (e.action === Action.Append && (e.keepEmpty || e.literal !== '')) headers.add(e.key, e.literal as string);
      }
      return;
    }
    // Decide everything against the current headers first; undefined = skip.
    const values = new Array<string | undefined>(add.length);
    for (let i = 0; i < add.length; i++) {
      const e = add[i];
      const v = e.format === undefined ? (e.literal as string) : e.format(info);
      if (v === '' && !e.keepEmpty) continue;
      if (e.action === Action.AddIfAbsent ? headers.has(e.key) : e.action === Action.OverwriteIfExists && !headers.has(e.key)) {
        continue;
      }
      values[i] = v;
    }
    for (let i = 0; i < add.length; i++) {
      const v = values[i];
      const a = add[i].action;
      if (v !== undefined && (a === Action.OverwriteOrAdd || a === Action.OverwriteIfExists)) headers.set(add[i].key, v);
    }
    for (let i = 0; i < add.length; i++) {
      const v = values[i];
      const a = add[i].action;
      if (v !== undefined && (a === Action.Append || a === Action.AddIfAbsent)) headers.add(add[i].key, v);
    }
  }
}
