/**
 * json-body: rewrites JSON request and response bodies — sets, removes and renames fields at
 * dotted paths — and keeps the framing right. Configuration schema and behaviour: ../README.md.
 *
 * A body is rewritten only if its content-type matches and it is not compressed. It is buffered
 * whole (StopIterationAndBuffer until end of stream), parsed, changed, written again and replaced.
 * Because the body's length changes, the headers must say so: by default content-length is
 * removed in the headers callback (they go on before the body is known, as with any Envoy filter
 * that rewrites bodies), so the body travels chunked; with `hold_headers` the headers wait for the
 * body (StopIteration, which needs the plugin's `allow_on_headers_stop_iteration: true`) and get
 * the exact new content-length.
 *
 * The parsed document is immutable (the SDK's JsonValue): each change rebuilds only the objects
 * and arrays on its path.
 */
import {
  Body,
  Counter,
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  GrpcStatus,
  HeaderMap,
  HttpContext,
  JsonValue,
  RootContext,
  getPluginConfigurationString,
  jsonError,
  logDebug,
  logError,
  parseJson,
  registerRootContext,
  requestBody,
  requestHeaders,
  responseBody,
  responseHeaders,
  stringifyJson,
} from "@sluice/sdk";
export * from "@sluice/sdk/exports";

// ---- paths and changes -------------------------------------------------------------------

const OP_SET: i32 = 0;
const OP_REMOVE: i32 = 1;
const OP_RENAME: i32 = 2;

/** A path segment naming an array element: digits only. */
function arrayIndex(segment: string, length: i32): i32 {
  if (segment.length == 0 || segment.length > 9) return -1;
  let n = 0;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n < length ? n : -1;
}

/** `obj` with member `key` set to `value` (in place of the old one, or appended). */
function withMember(obj: JsonValue, key: string, value: JsonValue): JsonValue {
  const keys = obj.keys();
  const values = new Map<string, JsonValue>();
  for (let i = 0; i < keys.length; i++) values.set(keys[i], obj.get(keys[i])!);
  if (!values.has(key)) keys.push(key);
  values.set(key, value);
  return JsonValue.fromObject(keys, values);
}

/** `obj` without member `key`, or member `key` renamed to `to` in the same position. */
function withoutMember(obj: JsonValue, key: string, renameTo: string | null): JsonValue {
  const old = obj.keys();
  const keys = new Array<string>();
  const values = new Map<string, JsonValue>();
  const moved = obj.get(key);
  for (let i = 0; i < old.length; i++) {
    const k = old[i];
    if (renameTo != null && k == renameTo) continue; // the target is replaced by the renamed member
    if (k == key) {
      if (renameTo != null && moved != null) {
        keys.push(renameTo);
        values.set(renameTo, moved);
      }
      continue;
    }
    keys.push(k);
    values.set(k, obj.get(k)!);
  }
  return JsonValue.fromObject(keys, values);
}

/** `arr` with element `index` replaced by `value`, or removed when `value` is null. */
function withItem(arr: JsonValue, index: i32, value: JsonValue | null): JsonValue {
  const items = new Array<JsonValue>();
  for (let i = 0; i < arr.length; i++) {
    if (i != index) items.push(arr.at(i)!);
    else if (value != null) items.push(value);
  }
  return JsonValue.fromArray(items);
}

/** Objects nested along `path[from..]`, with `value` at the end (what `set` creates). */
function nested(path: Array<string>, from: i32, value: JsonValue): JsonValue {
  let v = value;
  for (let i = path.length - 1; i >= from; i--) {
    const keys = new Array<string>();
    keys.push(path[i]);
    const values = new Map<string, JsonValue>();
    values.set(path[i], v);
    v = JsonValue.fromObject(keys, values);
  }
  return v;
}

/**
 * Applies one change at `path` (from segment `i`) and returns the changed copy of `v`, or null
 * when the change does not apply (nothing to remove or rename, an index out of range, or a value
 * that is not an object or array where the path must go through).
 */
function change(v: JsonValue, path: Array<string>, i: i32, op: i32, value: JsonValue | null, renameTo: string | null): JsonValue | null {
  const seg = path[i];
  const last = i == path.length - 1;
  if (v.isObject()) {
    if (last) {
      if (op == OP_SET) return withMember(v, seg, value!);
      if (!v.has(seg)) return null;
      return withoutMember(v, seg, op == OP_RENAME ? renameTo : null);
    }
    const child = v.get(seg);
    if (child == null) return op == OP_SET ? withMember(v, seg, nested(path, i + 1, value!)) : null;
    const changed = change(child, path, i + 1, op, value, renameTo);
    return changed == null ? null : withMember(v, seg, changed);
  }
  if (v.isArray()) {
    const index = arrayIndex(seg, v.length);
    if (index < 0) return null;
    if (last) {
      if (op == OP_SET) return withItem(v, index, value);
      if (op == OP_REMOVE) return withItem(v, index, null);
      return null; // an array element has no name to rename
    }
    const changed = change(v.at(index)!, path, i + 1, op, value, renameTo);
    return changed == null ? null : withItem(v, index, changed);
  }
  return null;
}

/** The value at `path`, or null. */
function lookup(v: JsonValue, path: Array<string>): JsonValue | null {
  let cur: JsonValue | null = v;
  for (let i = 0; i < path.length && cur != null; i++) {
    const c: JsonValue = cur;
    if (c.isObject()) cur = c.get(path[i]);
    else if (c.isArray()) {
      const index = arrayIndex(path[i], c.length);
      cur = index < 0 ? null : c.at(index);
    } else cur = null;
  }
  return cur;
}

function sameParent(a: Array<string>, b: Array<string>): bool {
  if (a.length != b.length) return false;
  for (let i = 0; i < a.length - 1; i++) if (a[i] != b[i]) return false;
  return true;
}

class SetRule {
  constructor(public path: Array<string>, public value: JsonValue) {}
}

class RenameRule {
  constructor(public from: Array<string>, public to: Array<string>) {}
}

/** One direction's changes, applied in this order: rename, remove, set. */
class Rules {
  rename: Array<RenameRule> = new Array<RenameRule>();
  remove: Array<Array<string>> = new Array<Array<string>>();
  set: Array<SetRule> = new Array<SetRule>();

  get empty(): bool {
    return this.rename.length == 0 && this.remove.length == 0 && this.set.length == 0;
  }

  /** The changed document, or null when no rule changed anything. */
  apply(doc: JsonValue): JsonValue | null {
    let cur = doc;
    let changed = false;
    for (let i = 0; i < this.rename.length; i++) {
      const r = this.rename[i];
      let next: JsonValue | null = null;
      if (sameParent(r.from, r.to)) {
        // Same object: the member keeps its position.
        next = change(cur, r.from, 0, OP_RENAME, null, r.to[r.to.length - 1]);
      } else {
        const moved = lookup(cur, r.from);
        if (moved != null) {
          const placed = change(cur, r.to, 0, OP_SET, moved, null);
          if (placed != null) next = change(placed, r.from, 0, OP_REMOVE, null, null);
        }
      }
      if (next != null) {
        cur = next;
        changed = true;
      }
    }
    for (let i = 0; i < this.remove.length; i++) {
      const next = change(cur, this.remove[i], 0, OP_REMOVE, null, null);
      if (next != null) {
        cur = next;
        changed = true;
      }
    }
    for (let i = 0; i < this.set.length; i++) {
      const next = change(cur, this.set[i].path, 0, OP_SET, this.set[i].value, null);
      if (next != null) {
        cur = next;
        changed = true;
      }
    }
    return changed ? cur : null;
  }
}

// ---- configuration -----------------------------------------------------------------------

let problem = "";

function fail(what: string): bool {
  if (problem.length == 0) problem = what;
  return false;
}

function checkKeys(obj: JsonValue, allowed: Array<string>, where: string): bool {
  const keys = obj.keys();
  for (let i = 0; i < keys.length; i++) {
    if (!allowed.includes(keys[i])) return fail(where + ": unknown field '" + keys[i] + "' (expected " + allowed.join(", ") + ")");
  }
  return true;
}

/** A dotted path as segments; null (with `problem` set) when a segment is empty. */
function parsePath(text: string, where: string): Array<string> | null {
  const segments = text.split(".");
  for (let i = 0; i < segments.length; i++) {
    if (segments[i].length == 0) {
      fail(where + ": bad path '" + text + "' (dot-separated names, none empty)");
      return null;
    }
  }
  return segments;
}

function startsWithPath(path: Array<string>, prefix: Array<string>): bool {
  if (prefix.length > path.length) return false;
  for (let i = 0; i < prefix.length; i++) if (path[i] != prefix[i]) return false;
  return true;
}

function parseRules(obj: JsonValue | null, where: string): Rules | null {
  const rules = new Rules();
  if (obj == null) return rules;
  if (!obj.isObject()) {
    fail(where + ": must be an object with set, remove and/or rename");
    return null;
  }
  if (!checkKeys(obj, ["set", "remove", "rename"], where)) return null;
  const set = obj.get("set");
  if (set != null) {
    if (!set.isObject()) {
      fail(where + ".set: must be an object {\"path\": value}");
      return null;
    }
    const keys = set.keys();
    for (let i = 0; i < keys.length; i++) {
      const path = parsePath(keys[i], where + ".set");
      if (path == null) return null;
      rules.set.push(new SetRule(path, set.get(keys[i])!));
    }
  }
  const remove = obj.get("remove");
  if (remove != null) {
    if (!remove.isArray()) {
      fail(where + ".remove: must be an array of paths");
      return null;
    }
    for (let i = 0; i < remove.length; i++) {
      const e = remove.at(i)!;
      const at = where + ".remove[" + i.toString() + "]";
      if (!e.isString()) {
        fail(at + ": must be a string");
        return null;
      }
      const path = parsePath(e.asString(), at);
      if (path == null) return null;
      rules.remove.push(path);
    }
  }
  const rename = obj.get("rename");
  if (rename != null) {
    if (!rename.isObject()) {
      fail(where + ".rename: must be an object {\"from.path\": \"to.path\"}");
      return null;
    }
    const keys = rename.keys();
    for (let i = 0; i < keys.length; i++) {
      const at = where + ".rename." + keys[i];
      const target = rename.get(keys[i])!;
      if (!target.isString()) {
        fail(at + ": must be a string (the new path)");
        return null;
      }
      const from = parsePath(keys[i], at);
      if (from == null) return null;
      const to = parsePath(target.asString(), at);
      if (to == null) return null;
      if (startsWithPath(from, to) || startsWithPath(to, from)) {
        fail(at + ": '" + keys[i] + "' and '" + target.asString() + "' overlap (one contains the other)");
        return null;
      }
      rules.rename.push(new RenameRule(from, to));
    }
  }
  return rules;
}

/** A content_types entry: "type/subtype", or with one `*` ("application/*+json", "*\/*"). */
class MediaPattern {
  prefix: string;
  suffix: string;
  wildcard: bool;

  constructor(pattern: string) {
    const star = pattern.indexOf("*");
    this.wildcard = star >= 0;
    this.prefix = star >= 0 ? pattern.substring(0, star) : pattern;
    this.suffix = star >= 0 ? pattern.substring(star + 1) : "";
  }

  matches(mediaType: string): bool {
    if (!this.wildcard) return mediaType == this.prefix;
    return mediaType.length >= this.prefix.length + this.suffix.length && mediaType.startsWith(this.prefix) && mediaType.endsWith(this.suffix);
  }
}

const INVALID_PASS: i32 = 0;
const INVALID_REJECT: i32 = 1;

// ---- the filter --------------------------------------------------------------------------

class JsonBodyRoot extends RootContext {
  request: Rules = new Rules();
  response: Rules = new Rules();
  maxBodyBytes: u32 = 1048576;
  contentTypes: Array<MediaPattern> = [new MediaPattern("application/json")];
  holdHeaders: bool = false;
  invalid: i32 = INVALID_PASS;

  rewritten: Counter = new Counter("json_body_rewritten_total");
  invalidBodies: Counter = new Counter("json_body_invalid_total");
  tooLarge: Counter = new Counter("json_body_too_large_total");

  onConfigure(configurationSize: u32): bool {
    problem = "";
    const text = getPluginConfigurationString();
    if (text.trim().length == 0) {
      logError("json-body: configuration is empty; expected a JSON object with \"request\" and/or \"response\" rules");
      return false;
    }
    const config = parseJson(text);
    if (config == null) {
      logError("json-body: configuration is not valid JSON: " + jsonError());
      return false;
    }
    if (!this.configure(config)) {
      logError("json-body: " + problem);
      return false;
    }
    return true;
  }

  configure(config: JsonValue): bool {
    if (!config.isObject()) return fail("configuration must be a JSON object");
    if (!checkKeys(config, ["request", "response", "max_body_bytes", "content_types", "hold_headers", "invalid_json"], "configuration")) return false;
    const request = parseRules(config.get("request"), "request");
    if (request == null) return false;
    const response = parseRules(config.get("response"), "response");
    if (response == null) return false;
    const max = config.get("max_body_bytes");
    if (max != null) {
      const n = max.asNumber(-1);
      if (!max.isNumber() || n < 1 || n > 1073741824 || n != Math.floor(n)) return fail("max_body_bytes: must be an integer from 1 to 1073741824");
      this.maxBodyBytes = <u32>n;
    }
    const types = config.get("content_types");
    if (types != null) {
      if (!types.isArray() || types.length == 0) return fail("content_types: must be a non-empty array of media types");
      const patterns = new Array<MediaPattern>();
      for (let i = 0; i < types.length; i++) {
        const e = types.at(i)!;
        const t = e.asString().trim().toLowerCase();
        if (!e.isString() || t.length == 0 || t.includes(";") || t.indexOf("*") != t.lastIndexOf("*")) {
          return fail("content_types[" + i.toString() + "]: must be a media type such as \"application/json\" (at most one '*', no parameters)");
        }
        patterns.push(new MediaPattern(t));
      }
      this.contentTypes = patterns;
    }
    const hold = config.get("hold_headers");
    if (hold != null) {
      if (!hold.isBool()) return fail("hold_headers: must be true or false");
      this.holdHeaders = hold.asBool();
    }
    const invalid = config.get("invalid_json");
    if (invalid != null) {
      const mode = invalid.asString();
      if (mode == "pass") this.invalid = INVALID_PASS;
      else if (mode == "reject") this.invalid = INVALID_REJECT;
      else return fail("invalid_json: must be \"pass\" or \"reject\"");
    }
    this.request = request;
    this.response = response;
    return true;
  }

  /** Whether a body with these headers is one to rewrite. */
  wants(headers: HeaderMap): bool {
    const type = headers.get("content-type");
    if (type == null) return false;
    const encoding = headers.get("content-encoding");
    // A compressed body is not JSON text until something decompresses it.
    if (encoding != null && encoding.trim().toLowerCase() != "identity") return false;
    const length = headers.get("content-length");
    if (length != null && length.trim() == "0") return false;
    const semi = type.indexOf(";");
    const media = (semi < 0 ? type : type.substring(0, semi)).trim().toLowerCase();
    for (let i = 0; i < this.contentTypes.length; i++) if (this.contentTypes[i].matches(media)) return true;
    return false;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    if (this.request.empty && this.response.empty) return null;
    return new JsonBodyStream(contextId, this);
  }
}

// Outcome of looking at a complete body.
const BODY_UNCHANGED: i32 = 0;
const BODY_REWRITTEN: i32 = 1;
const BODY_REJECTED: i32 = 2;

class JsonBodyStream extends HttpContext {
  requestActive: bool = false;
  responseActive: bool = false;
  /** The request was answered locally: whatever request body still arrives is dropped. */
  requestAnswered: bool = false;

  constructor(contextId: u32, public plugin: JsonBodyRoot) {
    super(contextId, plugin);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    if (endOfStream || this.plugin.request.empty || !this.plugin.wants(requestHeaders)) return FilterHeadersStatus.Continue;
    this.requestActive = true;
    if (this.plugin.holdHeaders) return FilterHeadersStatus.StopIteration;
    requestHeaders.remove("content-length");
    return FilterHeadersStatus.Continue;
  }

  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    if (this.requestAnswered) return FilterDataStatus.StopIterationNoBuffer;
    if (!this.requestActive) return FilterDataStatus.Continue;
    if (bodySize > this.plugin.maxBodyBytes) {
      this.requestActive = false;
      this.plugin.tooLarge.increment();
      this.requestAnswered = true;
      this.sendLocalResponse(413, "json-body: request body larger than " + this.plugin.maxBodyBytes.toString() + " bytes", null, GrpcStatus.InvalidCode, "json_body_too_large");
      return FilterDataStatus.StopIterationNoBuffer;
    }
    if (!endOfStream) return FilterDataStatus.StopIterationAndBuffer;
    this.requestActive = false;
    if (this.rewrite(requestBody, requestHeaders, this.plugin.request, "request") == BODY_REJECTED) {
      this.requestAnswered = true;
      this.sendLocalResponse(400, "json-body: request body is not valid JSON", null, GrpcStatus.InvalidCode, "json_body_invalid");
      return FilterDataStatus.StopIterationNoBuffer;
    }
    return FilterDataStatus.Continue;
  }

  onRequestTrailers(trailerCount: u32): FilterTrailersStatus {
    // Trailers end the body without an end-of-stream body callback; the body callbacks cannot see
    // the buffered body any more, so it goes on as it came.
    if (this.requestActive) logDebug("json-body: request body followed by trailers passed on unchanged");
    this.requestActive = false;
    return FilterTrailersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    if (endOfStream || this.plugin.response.empty || !this.plugin.wants(responseHeaders)) return FilterHeadersStatus.Continue;
    this.responseActive = true;
    if (this.plugin.holdHeaders) return FilterHeadersStatus.StopIteration;
    responseHeaders.remove("content-length");
    return FilterHeadersStatus.Continue;
  }

  onResponseBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    if (!this.responseActive) return FilterDataStatus.Continue;
    if (bodySize > this.plugin.maxBodyBytes) {
      this.responseActive = false;
      this.plugin.tooLarge.increment();
      // Envoy's answer to a response that outgrows a buffer: 500 while the headers are still
      // here (hold_headers), else the host resets the stream. Never the body unrewritten.
      this.sendLocalResponse(500, "json-body: response body larger than " + this.plugin.maxBodyBytes.toString() + " bytes", null, GrpcStatus.InvalidCode, "json_body_too_large");
      return FilterDataStatus.StopIterationNoBuffer;
    }
    if (!endOfStream) return FilterDataStatus.StopIterationAndBuffer;
    this.responseActive = false;
    if (this.rewrite(responseBody, responseHeaders, this.plugin.response, "response") == BODY_REJECTED) {
      this.sendLocalResponse(502, "json-body: response body is not valid JSON", null, GrpcStatus.InvalidCode, "json_body_invalid");
      return FilterDataStatus.StopIterationNoBuffer;
    }
    return FilterDataStatus.Continue;
  }

  onResponseTrailers(trailerCount: u32): FilterTrailersStatus {
    if (this.responseActive) logDebug("json-body: response body followed by trailers passed on unchanged");
    this.responseActive = false;
    return FilterTrailersStatus.Continue;
  }

  /** Rewrites the complete buffered body in place (and content-length when the headers are held). */
  rewrite(body: Body, headers: HeaderMap, rules: Rules, what: string): i32 {
    const bytes = body.read();
    if (bytes == null) return BODY_UNCHANGED;
    const doc = parseJson(String.UTF8.decode(bytes));
    if (doc == null) {
      this.plugin.invalidBodies.increment();
      logDebug("json-body: " + what + " body is not valid JSON (" + jsonError() + "); " + (this.plugin.invalid == INVALID_REJECT ? "rejected" : "passed on unchanged"));
      return this.plugin.invalid == INVALID_REJECT ? BODY_REJECTED : BODY_UNCHANGED;
    }
    const changed = rules.apply(doc);
    if (changed == null) return BODY_UNCHANGED;
    const out = String.UTF8.encode(stringifyJson(changed));
    body.replace(out);
    // Only held headers can still change; otherwise content-length was removed at headers time.
    if (this.plugin.holdHeaders && headers.get("content-length") != null) headers.set("content-length", out.byteLength.toString());
    this.plugin.rewritten.increment();
    return BODY_REWRITTEN;
  }
}

registerRootContext((contextId: u32): RootContext => new JsonBodyRoot(contextId), "json_body");
