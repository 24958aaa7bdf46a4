/**
 * The auth-call plugin configuration (JSON), read once in `onConfigure`. Field names and defaults
 * follow Envoy's ext_authz `http_service` where Envoy has the concept (README.md lists each field).
 */
import { JsonValue } from "@sluice/sdk";
import { ConfigReader } from "@sluice/sdk";

const FIELDS: Array<string> = [
  "cluster",
  "path",
  "include_path",
  "timeout_ms",
  "headers_to_check",
  "allowed_upstream_headers",
  "allowed_client_headers",
  "failure_mode_allow",
  "failure_mode_allow_header_add",
  "status_on_error",
  "stat_prefix",
];

/** Envoy's ext_authz default timeout. */
export const DEFAULT_TIMEOUT_MS: i64 = 200;
/** Envoy's ext_authz default `status_on_error` (Forbidden). */
export const DEFAULT_STATUS_ON_ERROR: i64 = 403;

export class AuthCallConfig {
  /** Cluster of the authorization service (required). */
  cluster: string = "";
  /** Path on the authorization service; with `includePath` a prefix of the original path. */
  path: string = "";
  /** Append the original path (with query) to `path`, as Envoy's `path_prefix`; else send it as `x-original-uri`. */
  includePath: bool = true;
  timeoutMs: u32 = <u32>DEFAULT_TIMEOUT_MS;
  /** Request headers copied to the check request besides `authorization` (always copied). */
  headersToCheck: Array<string> = [];
  /** Check-response headers set on the request when allowed. */
  allowedUpstreamHeaders: Array<string> = [];
  /** Check-response headers returned to the client when denied; null = all but hop-by-hop ones. */
  allowedClientHeaders: Array<string> | null = null;
  failureModeAllow: bool = false;
  failureModeAllowHeaderAdd: bool = false;
  statusOnError: u32 = <u32>DEFAULT_STATUS_ON_ERROR;
  statPrefix: string = "ext_authz";
}

/** The configuration, or null with `reader.problem` saying why it is refused. */
export function parseAuthCallConfig(reader: ConfigReader): AuthCallConfig | null {
  const json: JsonValue = reader.json;
  if (!json.isObject()) {
    reader.fail("the configuration must be a JSON object");
    return null;
  }
  reader.checkKnown(json, FIELDS);
  const c = new AuthCallConfig();
  c.cluster = reader.str(json, "cluster", "");
  if (reader.ok && c.cluster.length == 0) reader.fail("\"cluster\" is required: the name of the authorization service's cluster");
  c.path = reader.str(json, "path", "");
  if (reader.ok && c.path.length > 0 && !c.path.startsWith("/")) reader.fail("\"path\" must start with \"/\", got \"" + c.path + "\"");
  c.includePath = reader.bool(json, "include_path", true);
  c.timeoutMs = <u32>reader.int(json, "timeout_ms", DEFAULT_TIMEOUT_MS, 1, 60_000);
  const check = reader.headerNames(json, "headers_to_check");
  if (check != null) c.headersToCheck = check;
  const upstream = reader.headerNames(json, "allowed_upstream_headers");
  if (upstream != null) c.allowedUpstreamHeaders = upstream;
  c.allowedClientHeaders = reader.headerNames(json, "allowed_client_headers");
  c.failureModeAllow = reader.bool(json, "failure_mode_allow", false);
  c.failureModeAllowHeaderAdd = reader.bool(json, "failure_mode_allow_header_add", false);
  c.statusOnError = <u32>reader.int(json, "status_on_error", DEFAULT_STATUS_ON_ERROR, 200, 599);
  c.statPrefix = reader.str(json, "stat_prefix", "ext_authz");
  if (reader.ok && c.statPrefix.length == 0) reader.fail("\"stat_prefix\" must not be empty");
  return reader.ok ? c : null;
}
