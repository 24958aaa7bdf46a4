import { RootContext } from './root-context.ts';
import type { WasmContext } from './context.ts';

/**
 * The live contexts of one VM. Root contexts (a few, long-lived) sit in a Map; stream contexts
 * (one per request) in an intrusive doubly linked list, so registering and forgetting a stream
 * allocates nothing and leaves no churn in a long-lived hash table. (A Map or Set with one add and
 * one delete per request made V8 promote most per-request objects to the old generation: see
 * runtime/http/idle-sweeper.ts.) Looking a stream up by id walks the list: it happens only when a
 * guest calls `proxy_set_effective_context`, and a worker has tens of live streams.
 */
export class ContextRegistry {
  readonly #roots = new Map<number, RootContext>();
  #first: WasmContext | undefined;
  #streams = 0;

  get size(): number {
    return this.#roots.size + this.#streams;
  }

  add(ctx: WasmContext): void {
    if (ctx.registered) return;
    ctx.registered = true;
    if (ctx instanceof RootContext) {
      this.#roots.set(ctx.id, ctx);
      return;
    }
    ctx.registryPrev = undefined;
    ctx.registryNext = this.#first;
    if (this.#first !== undefined) this.#first.registryPrev = ctx;
    this.#first = ctx;
    this.#streams++;
  }

  delete(ctx: WasmContext): void {
    if (!ctx.registered) return;
    ctx.registered = false;
    if (ctx instanceof RootContext) {
      this.#roots.delete(ctx.id);
      return;
    }
    const prev = ctx.registryPrev;
    const next = ctx.registryNext;
    if (prev !== undefined) prev.registryNext = next;
    else this.#first = next;
    if (next !== undefined) next.registryPrev = prev;
    ctx.registryPrev = undefined;
    ctx.registryNext = undefined;
    this.#streams--;
  }

  get(id: number): WasmContext | undefined {
    const root = this.#roots.get(id);
    if (root !== undefined) return root;
    for (let c = this.#first; c !== undefined; c = c.registryNext) if (c.id === id) return c;
    return undefined;
  }

  roots(): RootContext[] {
    return [...this.#roots.values()];
  }

  clear(): void {
    for (const r of this.#roots.values()) r.registered = false;
    this.#roots.clear();
    for (let c = this.#first; c !== undefined; ) {
      const next = c.registryNext;
      c.registered = false;
      c.registryPrev = undefined;
      c.registryNext = undefined;
      c = next;
    }
    this.#first = undefined;
    this.#streams = 0;
  }
}
