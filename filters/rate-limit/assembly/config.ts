/**
 * The rate-limit plugin configuration (JSON), read once in `onConfigure`. The bucket fields are
 * Envoy local_ratelimit's `token_bucket` (README.md lists each field).
 */
import { JsonValue } from "@sluice/sdk";
import { ConfigReader } from "@sluice/sdk";
import { Limits } from "./bucket";

const FIELDS: Array<string> = [
  "key",
  "missing_key",
  "max_tokens",
  "tokens_per_fill",
  "fill_interval_ms",
  "shared_key_prefix",
  "status",
  "enable_x_ratelimit_headers",
  "stat_prefix",
];
const KEY_KINDS: Array<string> = ["header", "client_address", "path_prefix"];

/** What a request's bucket is chosen by. */
export enum KeyKind {
  /** No `key`: one bucket for every request. */
  Global,
  Header,
  ClientAddress,
  PathPrefix,
}

export class RateLimitConfig {
  keyKind: KeyKind = KeyKind.Global;
  /** For KeyKind.Header: the header name, lower-cased. */
  header: string = "";
  /** For KeyKind.PathPrefix: how many leading path segments form the key. */
  segments: i32 = 1;
  /** A request without the key: false = not limited (Envoy: no descriptor, no limit); true = one shared bucket. */
  limitMissing: bool = false;
  limits: Limits = new Limits(1, 1, 1000);
  /** Shared-data keys start with this; plugins with the same vm_id and prefix share buckets. */
  sharedKeyPrefix: string = "";
  status: u32 = 429;
  xRateLimitHeaders: bool = true;
  statPrefix: string = "http_local_rate_limit";
}

/** The configuration, or null with `reader.problem` saying why it is refused. */
export function parseRateLimitConfig(reader: ConfigReader, pluginName: string): RateLimitConfig | null {
  const json: JsonValue = reader.json;
  if (!json.isObject()) {
    reader.fail("the configuration must be a JSON object");
    return null;
  }
  reader.checkKnown(json, FIELDS);
  const c = new RateLimitConfig();
  const key = json.get("key");
  if (key != null) readKey(reader, key, c);
  const missing = reader.str(json, "missing_key", "allow");
  if (missing == "shared") c.limitMissing = true;
  else if (missing != "allow") reader.fail("\"missing_key\" must be \"allow\" or \"shared\", got \"" + missing + "\"");
  if (reader.ok && !json.has("max_tokens")) reader.fail("\"max_tokens\" is required: the bucket size");
  if (reader.ok && !json.has("fill_interval_ms")) reader.fail("\"fill_interval_ms\" is required: how often tokens_per_fill tokens are added");
  const maxTokens = reader.int(json, "max_tokens", 1, 1, 1_000_000_000);
  const perFill = reader.int(json, "tokens_per_fill", 1, 1, 1_000_000_000);
  // Envoy refuses fill intervals under 50 ms.
  const interval = reader.int(json, "fill_interval_ms", 1000, 50, 86_400_000);
  c.limits = new Limits(maxTokens, perFill, interval);
  c.sharedKeyPrefix = reader.str(json, "shared_key_prefix", "rate-limit." + pluginName);
  if (reader.ok && c.sharedKeyPrefix.length == 0) reader.fail("\"shared_key_prefix\" must not be empty");
  c.status = <u32>reader.int(json, "status", 429, 400, 599);
  c.xRateLimitHeaders = reader.bool(json, "enable_x_ratelimit_headers", true);
  c.statPrefix = reader.str(json, "stat_prefix", "http_local_rate_limit");
  if (reader.ok && c.statPrefix.length == 0) reader.fail("\"stat_prefix\" must not be empty");
  return reader.ok ? c : null;
}

function readKey(reader: ConfigReader, key: JsonValue, c: RateLimitConfig): void {
  const one = "\"key\" must be an object with exactly one of \"header\", \"client_address\", \"path_prefix\"";
  if (!key.isObject() || key.keys().length != 1) {
    reader.fail(one);
    return;
  }
  reader.checkKnown(key, KEY_KINDS, "key.");
  if (!reader.ok) return;
  const kind = key.keys()[0];
  if (kind == "header") {
    c.keyKind = KeyKind.Header;
    c.header = reader.headerName(key, "header", "", "key.");
  } else if (kind == "client_address") {
    if (!reader.bool(key, "client_address", false, "key.")) {
      reader.fail("\"key.client_address\" must be true");
      return;
    }
    c.keyKind = KeyKind.ClientAddress;
  } else {
    const v = key.get("path_prefix")!;
    c.keyKind = KeyKind.PathPrefix;
    if (v.isBool() && v.asBool()) return;
    if (!v.isObject()) {
      reader.fail("\"key.path_prefix\" must be true or {\"segments\": n}");
      return;
    }
    reader.checkKnown(v, ["segments"], "key.path_prefix.");
    c.segments = <i32>reader.int(v, "segments", 1, 1, 32, "key.path_prefix.");
  }
}
