/**
 * auth-call: external authorization over HTTP, with the semantics of Envoy's ext_authz filter
 * (`http_service`). Each request is paused while a check request goes to the configured cluster:
 *
 * - check request: the original method, `path` + the original path (or `path` with the original
 *   in `x-original-uri` when `include_path` is false), the original authority, `content-length: 0`,
 *   `authorization` and the `headers_to_check`; no body.
 * - 200: allowed. The `allowed_upstream_headers` of the check response are set on the request
 *   (replacing), headers named in its `x-envoy-auth-headers-to-remove` are removed, the request
 *   continues.
 * - 5xx, a reset, a timeout or no healthy host (the host answers those as 504/503) and a call the
 *   host refuses (unknown cluster): error. With `failure_mode_allow` the request continues (marked
 *   with `x-envoy-auth-failure-mode-allowed: true` if `failure_mode_allow_header_add`), else a local
 *   reply with `status_on_error` (default 403, as Envoy).
 * - any other status: denied. The client gets the check response's status and body, and its
 *   headers (all but hop-by-hop ones, or only `allowed_client_headers` plus `www-authenticate` and
 *   `location`).
 *
 * Counters `<stat_prefix>.{ok, denied, error, failure_mode_allowed}` (default prefix `ext_authz`).
 */
import {
  Counter,
  FilterHeadersStatus,
  GrpcStatus,
  HeaderPair,
  HttpCallResponse,
  HttpContext,
  RootContext,
  WasmResult,
  getPluginConfigurationJson,
  httpCall,
  jsonError,
  logDebug,
  logError,
  logInfo,
  logWarn,
  pair,
  registerRootContext,
  requestHeaders,
  sendLocalResponseBytes,
} from "@sluice/sdk";
export * from "@sluice/sdk/exports";
import { AuthCallConfig, parseAuthCallConfig } from "./config";
import { ConfigReader } from "@sluice/sdk";

/** Headers never copied from a check response into a local reply: the proxy writes its own. */
const NOT_FOR_CLIENT: Array<string> = [
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "upgrade",
  "te",
  "date",
  "server",
];
/** Envoy passes these to the client on denial even when `allowed_client_headers` is set. */
const ALWAYS_FOR_CLIENT: Array<string> = ["www-authenticate", "location"];
/** A 200 check response may name request headers to drop (Envoy's storage header). */
const HEADERS_TO_REMOVE = "x-envoy-auth-headers-to-remove";
const FAILURE_MODE_ALLOWED_HEADER = "x-envoy-auth-failure-mode-allowed";

class AuthCallRoot extends RootContext {
  config: AuthCallConfig = new AuthCallConfig();
  /** `authorization` plus `headers_to_check`, minus what the check request sets itself. */
  checked: Set<string> = new Set<string>();
  clientAllowed: Set<string> = new Set<string>();
  ok: Counter = new Counter("unset");
  denied: Counter = new Counter("unset");
  error: Counter = new Counter("unset");
  failureModeAllowed: Counter = new Counter("unset");
  warnedRefused: bool = false;

  onConfigure(configurationSize: u32): bool {
    const json = getPluginConfigurationJson();
    if (json == null) {
      const why = configurationSize == 0 ? "the configuration is empty; \"cluster\" is required" : "the configuration is not JSON: " + jsonError();
      logError("auth-call: " + why);
      return false;
    }
    const reader = new ConfigReader(json);
    const config = parseAuthCallConfig(reader);
    if (config == null) {
      logError("auth-call: " + reader.problem);
      return false;
    }
    this.config = config;
    this.checked = new Set<string>();
    this.checked.add("authorization");
    for (let i = 0; i < config.headersToCheck.length; i++) {
      const name = config.headersToCheck[i];
      if (name != "content-length" && name != "host") this.checked.add(name);
    }
    this.clientAllowed = new Set<string>();
    const allowed = config.allowedClientHeaders;
    if (allowed != null) {
      for (let i = 0; i < allowed.length; i++) this.clientAllowed.add(allowed[i]);
      for (let i = 0; i < ALWAYS_FOR_CLIENT.length; i++) this.clientAllowed.add(ALWAYS_FOR_CLIENT[i]);
    }
    const p = config.statPrefix + ".";
    this.ok = new Counter(p + "ok");
    this.denied = new Counter(p + "denied");
    this.error = new Counter(p + "error");
    this.failureModeAllowed = new Counter(p + "failure_mode_allowed");
    logInfo("auth-call: checking with cluster \"" + config.cluster + "\" (timeout " + config.timeoutMs.toString() + " ms)");
    return true;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new AuthCallStream(contextId, this);
  }

  /** Which check-response headers go to the client on denial. */
  forClient(name: string): bool {
    if (name.startsWith(":") || NOT_FOR_CLIENT.includes(name)) return false;
    return this.config.allowedClientHeaders == null || this.clientAllowed.has(name);
  }
}

class AuthCallStream extends HttpContext {
  constructor(contextId: u32, public plugin: AuthCallRoot) {
    super(contextId, plugin);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const c = this.plugin.config;
    const original = requestHeaders.pairs();
    let method = "GET";
    let path = "/";
    let authority = "";
    const check = new Array<HeaderPair>();
    for (let i = 0; i < original.length; i++) {
      const h = original[i];
      if (h.name == ":method") method = h.value;
      else if (h.name == ":path") path = h.value;
      else if (h.name == ":authority") authority = h.value;
      else if (this.plugin.checked.has(h.name)) check.push(h);
    }
    const checkPath = c.includePath ? c.path + path : c.path.length > 0 ? c.path : "/";
    const headers = [
      pair(":method", method),
      pair(":path", checkPath),
      pair(":authority", authority.length > 0 ? authority : c.cluster),
      pair("content-length", "0"),
    ];
    if (!c.includePath) headers.push(pair("x-original-uri", path));
    for (let i = 0; i < check.length; i++) headers.push(check[i]);

    const result = httpCall(this, c.cluster, headers, null, null, c.timeoutMs, (self: AuthCallStream, response: HttpCallResponse) => {
      self.onCheckResponse(response);
    });
    if (result == WasmResult.Ok) return FilterHeadersStatus.StopAllIterationAndWatermark;
    if (!this.plugin.warnedRefused) {
      this.plugin.warnedRefused = true;
      logWarn("auth-call: the host refused the call to cluster \"" + c.cluster + "\" (" + result.toString() + "): is the cluster configured?");
    }
    return this.onError() ? FilterHeadersStatus.Continue : FilterHeadersStatus.StopIteration;
  }

  onCheckResponse(response: HttpCallResponse): void {
    const status = response.status;
    if (response.failed || status >= 500) {
      logDebug("auth-call: check failed: " + (response.failed ? response.failureMessage : status.toString()));
      if (this.onError()) this.continueRequest();
      return;
    }
    if (status == 200) {
      this.allow(response);
      return;
    }
    this.plugin.denied.increment();
    const headers = new Array<HeaderPair>();
    for (let i = 0; i < response.headers.length; i++) {
      const h = response.headers[i];
      if (this.plugin.forClient(h.name)) headers.push(h);
    }
    // A 1xx cannot be a final answer; Envoy's default denial status stands in for it.
    const replyStatus: u32 = status < 200 ? 403 : status;
    sendLocalResponseBytes(replyStatus, response.body, headers, GrpcStatus.InvalidCode, "ext_authz_denied");
  }

  allow(response: HttpCallResponse): void {
    this.plugin.ok.increment();
    const upstream = this.plugin.config.allowedUpstreamHeaders;
    const replaced = new Set<string>();
    for (let i = 0; i < response.headers.length; i++) {
      const h = response.headers[i];
      if (!upstream.includes(h.name)) continue;
      // The first value replaces what the client sent; further values of the same name are kept too.
      if (replaced.has(h.name)) requestHeaders.add(h.name, h.value);
      else {
        requestHeaders.set(h.name, h.value);
        replaced.add(h.name);
      }
    }
    const remove = response.header(HEADERS_TO_REMOVE);
    if (remove != null) {
      const names = remove.split(",");
      for (let i = 0; i < names.length; i++) {
        const name = names[i].trim().toLowerCase();
        if (name.length > 0 && !name.startsWith(":") && name != "host") requestHeaders.remove(name);
      }
    }
    this.continueRequest();
  }

  /** Counts an error and applies the failure mode; true when the request may continue. */
  onError(): bool {
    const c = this.plugin.config;
    this.plugin.error.increment();
    if (c.failureModeAllow) {
      this.plugin.failureModeAllowed.increment();
      if (c.failureModeAllowHeaderAdd) requestHeaders.set(FAILURE_MODE_ALLOWED_HEADER, "true");
      return true;
    }
    this.sendLocalResponse(c.statusOnError, "", null, GrpcStatus.InvalidCode, "ext_authz_error");
    return false;
  }
}

registerRootContext((contextId: u32): RootContext => new AuthCallRoot(contextId), "auth-call");
