// @ts-nocheck — AssemblyScript (built by `npm start` with sluice's buildFilter), not Node TypeScript.
/**
 * The quickstart's filter: greets every response with `x-greeting` (text from the plugin
 * configuration) and counts requests in `wasmcustom.quickstart_requests`. Edit the greeting
 * below while `npm start` runs: the filter is rebuilt and hot-swapped in about a second.
 */
import {
  Counter, FilterHeadersStatus, HttpContext, RootContext, registerRootContext,
  getPluginConfigurationJson, responseHeaders,
} from "@sluice/sdk";
export * from "@sluice/sdk/exports";

const VERSION = "1";

class QuickstartRoot extends RootContext {
  greeting: string = "hello";
  requests: Counter = new Counter("quickstart_requests");

  onConfigure(configurationSize: u32): bool {
    const config = getPluginConfigurationJson();
    if (config != null) this.greeting = config.getString("greeting", this.greeting);
    return true;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Greeter(contextId, this);
  }
}

class Greeter extends HttpContext {
  constructor(contextId: u32, public plugin: QuickstartRoot) {
    super(contextId, plugin);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    this.plugin.requests.increment(1);
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    responseHeaders.set("x-greeting", this.plugin.greeting);
    responseHeaders.set("x-filter-version", VERSION);
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((id) => new QuickstartRoot(id), "quickstart");
