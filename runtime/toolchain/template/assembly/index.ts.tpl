/**
 * {{name}}: adds one header to every response. Configuration (the plugin configuration in
 * envoy.yaml, JSON): {"header": "x-hello", "value": "world"}; both fields are optional.
 *
 * SDK reference: node_modules/@sluice/sdk/README.md.
 */
import {
  FilterHeadersStatus,
  HttpContext,
  RootContext,
  getPluginConfigurationJson,
  jsonError,
  logError,
  registerRootContext,
  responseHeaders,
} from "@sluice/sdk";
// The proxy-wasm exports (proxy_on_request_headers, ...): exactly once, in the entry file.
export * from "@sluice/sdk/exports";

/** One per plugin configuration: reads the configuration and creates a context per stream. */
class {{className}}Root extends RootContext {
  header: string = "x-hello";
  value: string = "world";

  onConfigure(configurationSize: u32): bool {
    if (configurationSize == 0) return true; // no configuration: the defaults above
    const config = getPluginConfigurationJson();
    if (config == null) {
      logError("{{name}}: the configuration is not JSON: " + jsonError());
      return false; // refuses the configuration: Sluice keeps the previous one (or does not start)
    }
    this.header = config.getString("header", this.header);
    this.value = config.getString("value", this.value);
    return true;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new {{className}}(contextId, this);
  }
}

/** One per HTTP stream. */
class {{className}} extends HttpContext {
  constructor(contextId: u32, public plugin: {{className}}Root) {
    super(contextId, plugin);
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    responseHeaders.set(this.plugin.header, this.plugin.value);
    return FilterHeadersStatus.Continue;
  }
}

// "{{rootId}}" is the root_id in envoy.yaml's plugin config.
registerRootContext((contextId: u32): RootContext => new {{className}}Root(contextId), "{{rootId}}");
