/**
 * rate-limit: token buckets per key (a request header, the client address, a path prefix, or one
 * bucket for everything), modelled on Envoy's local_ratelimit `token_bucket`. The buckets live in
 * proxy-wasm shared data, so every worker (every VM with this vm_id) draws on one budget.
 *
 * Per request, on request headers: pick the key, read its bucket, refill it from the host clock,
 * take a token, write it back with compare-and-swap (retrying when another worker wrote first).
 * - a token: the request continues;
 * - none: a local reply `status` (429) with body `local_rate_limited`, `retry-after` (seconds until
 *   the next fill) and `x-envoy-ratelimited: true`;
 * - both, with `enable_x_ratelimit_headers` (default on): `x-ratelimit-limit` (max_tokens),
 *   `x-ratelimit-remaining` and `x-ratelimit-reset` (seconds until the next fill) on the response;
 * - shared data refusing the write (store full) or losing every CAS round: the request continues
 *   unlimited and `<stat_prefix>.error` counts it (fail open, as Envoy's rate limit filters).
 *
 * Counters `<stat_prefix>.{ok, rate_limited, error}` (default prefix `http_local_rate_limit`).
 */
import {
  Counter,
  FilterHeadersStatus,
  GrpcStatus,
  HttpContext,
  RootContext,
  WasmResult,
  getCurrentTimeMilliseconds,
  getPluginConfigurationJson,
  getPropertyString,
  getSharedData,
  jsonError,
  logError,
  logInfo,
  logWarn,
  pair,
  pluginName,
  registerRootContext,
  requestHeaders,
  responseHeaders,
  setSharedDataString,
} from "@sluice/sdk";
export * from "@sluice/sdk/exports";
import { BucketState, Decision, decodeState, encodeState, takeToken } from "./bucket";
import { ConfigReader } from "@sluice/sdk";
import { KeyKind, RateLimitConfig, parseRateLimitConfig } from "./config";

/**
 * The cas for "create this key only if it does not exist yet". Hosts ignore cas for a new key, and
 * for an existing key compare it with the entry's cas, which is a process-wide counter starting at
 * 1 (cpp-host and Sluice): an entry carries u32.MAX only if its last write was the 4,294,967,295th
 * shared-data write of the process. A plain create (cas 0) would let two workers that both saw no
 * bucket each start a full one, handing out one token twice.
 */
const CREATE_ONLY: u32 = u32.MAX_VALUE;
/** CAS rounds before giving up on a bucket that other workers keep changing. */
const MAX_ATTEMPTS: i32 = 32;
/** Longer key values (a header can be kilobytes) are stored as a hash, bounding shared-data entries. */
const MAX_KEY_VALUE_CHARS: i32 = 128;

class RateLimitRoot extends RootContext {
  config: RateLimitConfig = new RateLimitConfig();
  ok: Counter = new Counter("unset");
  rateLimited: Counter = new Counter("unset");
  error: Counter = new Counter("unset");
  warnedError: bool = false;

  onConfigure(configurationSize: u32): bool {
    const json = getPluginConfigurationJson();
    if (json == null) {
      const why = configurationSize == 0 ? "the configuration is empty; \"max_tokens\" and \"fill_interval_ms\" are required" : "the configuration is not JSON: " + jsonError();
      logError("rate-limit: " + why);
      return false;
    }
    const reader = new ConfigReader(json);
    const config = parseRateLimitConfig(reader, pluginName());
    if (config == null) {
      logError("rate-limit: " + reader.problem);
      return false;
    }
    this.config = config;
    const p = config.statPrefix + ".";
    this.ok = new Counter(p + "ok");
    this.rateLimited = new Counter(p + "rate_limited");
    this.error = new Counter(p + "error");
    const l = config.limits;
    logInfo(
      "rate-limit: " + l.maxTokens.toString() + " tokens, +" + l.tokensPerFill.toString() + " every " + l.fillIntervalMs.toString() + " ms, keys under \"" + config.sharedKeyPrefix + "\"",
    );
    return true;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new RateLimitStream(contextId, this);
  }

  /** The shared-data key of this request's bucket, or null when the request is not limited. */
  bucketKey(): string | null {
    const c = this.config;
    let kind = "all";
    let value: string | null = "";
    if (c.keyKind == KeyKind.Header) {
      kind = "header:" + c.header;
      value = requestHeaders.get(c.header);
    } else if (c.keyKind == KeyKind.ClientAddress) {
      kind = "ip";
      const address = getPropertyString("source.address");
      value = address == null ? null : withoutPort(address);
    } else if (c.keyKind == KeyKind.PathPrefix) {
      kind = "path";
      const path = requestHeaders.get(":path");
      value = path == null ? null : pathPrefix(path, c.segments);
    }
    if (value == null) {
      if (!c.limitMissing) return null;
      kind += ":missing";
      value = "";
    }
    const v = value.length > MAX_KEY_VALUE_CHARS ? "#" + fnv1a64(value) : value;
    return c.sharedKeyPrefix + "|" + kind + "|" + v;
  }

  /** Takes a token from bucket `key`; null when shared data refused or every CAS round was lost. */
  take(key: string, nowMs: i64): Decision | null {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const stored = getSharedData(key);
      const current: BucketState | null = stored == null ? null : decodeState(stored.valueString());
      const d = takeToken(current, nowMs, this.config.limits);
      const next = d.state;
      if (next == null) return d;
      const result = setSharedDataString(key, encodeState(next), stored == null ? CREATE_ONLY : stored.cas);
      if (result == WasmResult.Ok) return d;
      if (result != WasmResult.CasMismatch) {
        this.warnOnce("shared data refused bucket \"" + key + "\" (" + result.toString() + "); letting requests through");
        return null;
      }
    }
    this.warnOnce("bucket \"" + key + "\" changed under " + MAX_ATTEMPTS.toString() + " attempts in a row; letting the request through");
    return null;
  }

  warnOnce(message: string): void {
    if (this.warnedError) return;
    this.warnedError = true;
    logWarn("rate-limit: " + message);
  }
}

class RateLimitStream extends HttpContext {
  /** Set when this request drew on a bucket: the values of the x-ratelimit-* headers. */
  decided: bool = false;
  remaining: i64 = 0;
  resetSeconds: i64 = 0;

  constructor(contextId: u32, public plugin: RateLimitRoot) {
    super(contextId, plugin);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const root = this.plugin;
    const key = root.bucketKey();
    if (key == null) return FilterHeadersStatus.Continue;
    const d = root.take(key, <i64>getCurrentTimeMilliseconds());
    if (d == null) {
      root.error.increment();
      return FilterHeadersStatus.Continue;
    }
    this.decided = true;
    this.remaining = d.remaining;
    this.resetSeconds = (d.nextFillMs + 999) / 1000;
    if (d.allowed) {
      root.ok.increment();
      return FilterHeadersStatus.Continue;
    }
    root.rateLimited.increment();
    const headers = [pair("retry-after", this.resetSeconds.toString()), pair("x-envoy-ratelimited", "true")];
    this.sendLocalResponse(root.config.status, "local_rate_limited", headers, GrpcStatus.InvalidCode, "local_rate_limited");
    return FilterHeadersStatus.StopIteration;
  }

  // Runs for upstream responses and for this filter's own 429 alike.
  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    if (!this.decided || !this.plugin.config.xRateLimitHeaders) return FilterHeadersStatus.Continue;
    responseHeaders.set("x-ratelimit-limit", this.plugin.config.limits.maxTokens.toString());
    responseHeaders.set("x-ratelimit-remaining", this.remaining.toString());
    responseHeaders.set("x-ratelimit-reset", this.resetSeconds.toString());
    return FilterHeadersStatus.Continue;
  }
}

/** "10.0.0.7:51234" → "10.0.0.7", "[::1]:51234" → "::1"; anything else unchanged. */
function withoutPort(address: string): string {
  if (address.startsWith("[")) {
    const end = address.indexOf("]");
    return end > 0 ? address.substring(1, end) : address;
  }
  const colon = address.lastIndexOf(":");
  return colon > 0 && address.indexOf(":") == colon ? address.substring(0, colon) : address;
}

/** The first `segments` segments of a request path, without query or fragment: ("/api/v1/users?x", 2) → "/api/v1". */
function pathPrefix(path: string, segments: i32): string {
  let end = path.length;
  const q = path.indexOf("?");
  if (q >= 0) end = q;
  const h = path.indexOf("#");
  if (h >= 0 && h < end) end = h;
  let seen = 0;
  for (let i = 1; i < end; i++) {
    if (path.charCodeAt(i) == 47 /* / */) {
      seen++;
      if (seen == segments) return path.substring(0, i);
    }
  }
  return end == 0 ? "/" : path.substring(0, end);
}

/** FNV-1a, 64 bits, over the UTF-16 code units, as 16 hex digits. */
function fnv1a64(s: string): string {
  let h: u64 = 0xcbf29ce484222325;
  for (let i = 0; i < s.length; i++) {
    h ^= <u64>s.charCodeAt(i);
    h *= 0x100000001b3;
  }
  let hex = h.toString(16);
  while (hex.length < 16) hex = "0" + hex;
  return hex;
}

registerRootContext((contextId: u32): RootContext => new RateLimitRoot(contextId), "rate-limit");
