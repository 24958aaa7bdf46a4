/**
 * headers: adds, sets, removes and renames request and response headers from a JSON
 * configuration, with value templates (%REQ(name)%, %REQUEST_ID%, %PROPERTY(path)%, %%).
 * Configuration schema and examples: ../README.md.
 *
 * Everything that can be checked is checked in onConfigure, so a mistake refuses the
 * configuration with one log line instead of surfacing on a request. Per request the filter only
 * evaluates the compiled templates and makes the header calls.
 */
import {
  FilterHeadersStatus,
  HttpContext,
  JsonValue,
  RootContext,
  decodeBool,
  decodeI64,
  decodeU64,
  getPluginConfigurationString,
  getProperty,
  jsonError,
  logError,
  parseJson,
  registerRootContext,
  requestHeaders,
  responseHeaders,
  HeaderMap,
} from "@sluice/sdk";
export * from "@sluice/sdk/exports";

// ---- templates ---------------------------------------------------------------------------

const PART_LITERAL: i32 = 0;
const PART_REQUEST_HEADER: i32 = 1;
const PART_REQUEST_ID: i32 = 2;
const PART_PROPERTY: i32 = 3;

const REQUEST_ID_HEADER = "x-request-id";

/** How a property's bytes are turned into text (Envoy encodes integers as 8 bytes, not text). */
const PROP_STRING: i32 = 0;
const PROP_INT: i32 = 1;
const PROP_UINT: i32 = 2;
const PROP_BOOL: i32 = 3;

// Properties whose values are not strings. Any other path is read as a string (which is also
// what filter state set by another wasm filter with setPropertyString is).
const INT_PROPERTIES = [
  "request.time", "request.duration", "request.size", "request.total_size", "request.headers_bytes",
  "response.code", "response.size", "response.total_size", "response.flags", "response.grpc_status",
  "response.headers_bytes", "response.backend_latency",
  "source.port", "destination.port", "upstream.port", "upstream.request_attempt_count",
];
const UINT_PROPERTIES = ["connection.id", "connection_id", "upstream.num_endpoints"];
const BOOL_PROPERTIES = ["connection.mtls"];

function propertyKind(path: string): i32 {
  if (INT_PROPERTIES.includes(path)) return PROP_INT;
  if (UINT_PROPERTIES.includes(path)) return PROP_UINT;
  if (BOOL_PROPERTIES.includes(path)) return PROP_BOOL;
  return PROP_STRING;
}

class Part {
  constructor(public kind: i32, public text: string, public propertyKind: i32 = PROP_STRING) {}
}

/** Where a template reads request headers: live (request phase) or remembered (response phase). */
class RequestValues {
  live: bool = true;
  saved: Map<string, string> = new Map<string, string>();

  get(name: string): string | null {
    if (this.live) return requestHeaders.get(name);
    return this.saved.has(name) ? this.saved.get(name) : null;
  }
}

class Template {
  parts: Array<Part> = new Array<Part>();
  /** The whole value when the template has no placeholders (evaluated without any host call). */
  constant: string | null = null;

  evaluate(request: RequestValues): string {
    const constant = this.constant;
    if (constant != null) return constant;
    let out = "";
    for (let i = 0; i < this.parts.length; i++) {
      const p = this.parts[i];
      if (p.kind == PART_LITERAL) out += p.text;
      else if (p.kind == PART_REQUEST_HEADER) {
        const v = request.get(p.text);
        if (v != null) out += v;
      } else if (p.kind == PART_REQUEST_ID) out += requestId(request);
      else out += propertyText(p);
    }
    return out;
  }

  /** Request headers this template reads (so the response phase can remember them). */
  requestHeaderNames(into: Array<string>): void {
    for (let i = 0; i < this.parts.length; i++) {
      const p = this.parts[i];
      let name = "";
      if (p.kind == PART_REQUEST_HEADER) name = p.text;
      else if (p.kind == PART_REQUEST_ID) name = REQUEST_ID_HEADER;
      else continue;
      if (!into.includes(name)) into.push(name);
    }
  }
}

/** %REQUEST_ID%: the x-request-id header (which is also what Envoy's request.id property reads). */
function requestId(request: RequestValues): string {
  const v = request.get(REQUEST_ID_HEADER);
  return v == null ? "" : v;
}

function propertyText(p: Part): string {
  const raw = getProperty(p.text);
  if (raw == null) return "";
  if (p.propertyKind == PROP_INT && raw.byteLength == 8) return decodeI64(raw).toString();
  if (p.propertyKind == PROP_UINT && raw.byteLength == 8) return decodeU64(raw).toString();
  if (p.propertyKind == PROP_BOOL && raw.byteLength == 1) return decodeBool(raw) ? "true" : "false";
  return String.UTF8.decode(raw);
}

/** Why the last parse/validation failed (AssemblyScript has no exceptions to carry it). */
let problem = "";

function fail(what: string): bool {
  if (problem.length == 0) problem = what;
  return false;
}

function isTokenChar(c: i32): bool {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) return true;
  // RFC 9110 tchar punctuation: ! # $ % & ' * + - . ^ _ ` | ~
  return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a || c == 0x2b || c == 0x2d || c == 0x2e || c == 0x5e || c == 0x5f || c == 0x60 || c == 0x7c || c == 0x7e;
}

/** A header name this filter may change, lower-cased; null (with `problem` set) otherwise. */
function headerName(raw: string, where: string): string | null {
  if (raw.length == 0) {
    fail(where + ": header name is empty");
    return null;
  }
  if (raw.charCodeAt(0) == 0x3a /* : */) {
    fail(where + ": pseudo-header '" + raw + "' cannot be changed");
    return null;
  }
  for (let i = 0; i < raw.length; i++) {
    if (!isTokenChar(raw.charCodeAt(i))) {
      fail(where + ": '" + raw + "' is not a valid header name");
      return null;
    }
  }
  return raw.toLowerCase();
}

function hasLineBreakOrNul(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x0a || c == 0x0d || c == 0) return true;
  }
  return false;
}

const KNOWN_TEMPLATES = "%REQ(header)%, %REQUEST_ID%, %PROPERTY(path)% or %%";

/** Compiles a header value template; null (with `problem` set) when it is malformed. */
function parseTemplate(text: string, where: string): Template | null {
  const t = new Template();
  if (hasLineBreakOrNul(text)) {
    fail(where + ": value contains a line break or NUL");
    return null;
  }
  let literal = "";
  let i = 0;
  // Each iteration consumes at least one character.
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c != 0x25 /* % */) {
      const next = text.indexOf("%", i);
      const end = next < 0 ? text.length : next;
      literal += text.substring(i, end);
      i = end;
      continue;
    }
    if (i + 1 < text.length && text.charCodeAt(i + 1) == 0x25) {
      literal += "%";
      i += 2;
      continue;
    }
    const close = text.indexOf("%", i + 1);
    if (close < 0) {
      fail(where + ": unterminated '%' at offset " + i.toString() + " in '" + text + "' (write %% for a literal %)");
      return null;
    }
    const name = text.substring(i + 1, close);
    let part: Part | null = null;
    if (name == "REQUEST_ID") {
      part = new Part(PART_REQUEST_ID, "");
    } else if (name.startsWith("REQ(") && name.endsWith(")")) {
      const header = headerNameForRead(name.substring(4, name.length - 1), where);
      if (header == null) return null;
      part = new Part(PART_REQUEST_HEADER, header);
    } else if (name.startsWith("PROPERTY(") && name.endsWith(")")) {
      const path = name.substring(9, name.length - 1);
      if (path.length == 0 || path.startsWith(".") || path.endsWith(".") || path.includes("..")) {
        fail(where + ": bad property path '" + path + "' in %" + name + "% (a dotted path such as source.address)");
        return null;
      }
      part = new Part(PART_PROPERTY, path, propertyKind(path));
    } else {
      fail(where + ": unknown template %" + name + "% (known: " + KNOWN_TEMPLATES + ")");
      return null;
    }
    if (literal.length > 0) {
      t.parts.push(new Part(PART_LITERAL, literal));
      literal = "";
    }
    t.parts.push(part);
    i = close + 1;
  }
  if (literal.length > 0 || t.parts.length == 0) t.parts.push(new Part(PART_LITERAL, literal));
  if (t.parts.length == 1 && t.parts[0].kind == PART_LITERAL) t.constant = t.parts[0].text;
  return t;
}

/** %REQ(name)% may read pseudo-headers (:path, :authority, …); anything else must be a header name. */
function headerNameForRead(raw: string, where: string): string | null {
  if (raw.length > 1 && raw.charCodeAt(0) == 0x3a) {
    const rest = raw.substring(1);
    for (let i = 0; i < rest.length; i++) {
      if (!isTokenChar(rest.charCodeAt(i))) {
        fail(where + ": '" + raw + "' is not a valid header name");
        return null;
      }
    }
    return raw.toLowerCase();
  }
  return headerName(raw, where);
}

// ---- configuration -----------------------------------------------------------------------

class ValueRule {
  constructor(public name: string, public value: Template, public keepEmpty: bool) {}
}

class RenameRule {
  constructor(public from: string, public to: string) {}
}

/** The rules for one direction, in the order they are applied. */
class Rules {
  rename: Array<RenameRule> = new Array<RenameRule>();
  remove: Array<string> = new Array<string>();
  set: Array<ValueRule> = new Array<ValueRule>();
  add: Array<ValueRule> = new Array<ValueRule>();

  get empty(): bool {
    return this.rename.length == 0 && this.remove.length == 0 && this.set.length == 0 && this.add.length == 0;
  }

  /**
   * Applies every rule to `map`. Templates are evaluated first, so they read the headers as they
   * were when the phase began, whatever the rules change.
   */
  apply(map: HeaderMap, request: RequestValues): void {
    const setValues = evaluateAll(this.set, request);
    const addValues = evaluateAll(this.add, request);
    for (let i = 0; i < this.rename.length; i++) {
      const r = this.rename[i];
      const values = allValues(map, r.from);
      if (values.length == 0) continue;
      map.remove(r.from);
      map.remove(r.to);
      for (let j = 0; j < values.length; j++) map.add(r.to, values[j]);
    }
    for (let i = 0; i < this.remove.length; i++) map.remove(this.remove[i]);
    for (let i = 0; i < this.set.length; i++) {
      const v = setValues[i];
      if (v != null) map.set(this.set[i].name, v);
    }
    for (let i = 0; i < this.add.length; i++) {
      const v = addValues[i];
      if (v != null) map.add(this.add[i].name, v);
    }
  }

  /** Request headers the response phase will need, remembered at request time. */
  requestHeaderNames(): Array<string> {
    const names = new Array<string>();
    for (let i = 0; i < this.set.length; i++) this.set[i].value.requestHeaderNames(names);
    for (let i = 0; i < this.add.length; i++) this.add[i].value.requestHeaderNames(names);
    return names;
  }
}

/** Each rule's value, or null where it is to be skipped (empty without keep_empty, or unsafe). */
function evaluateAll(rules: Array<ValueRule>, request: RequestValues): Array<string | null> {
  const out = new Array<string | null>(rules.length);
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    const v = r.value.evaluate(request);
    // A value read from a property could hold a line break, which must never reach the wire.
    out[i] = (v.length == 0 && !r.keepEmpty) || hasLineBreakOrNul(v) ? null : v;
  }
  return out;
}

/** Every value of `name` in `map`, in order (a renamed header keeps all of them). */
function allValues(map: HeaderMap, name: string): Array<string> {
  const out = new Array<string>();
  const first = map.get(name);
  if (first == null) return out;
  const pairs = map.pairs();
  for (let i = 0; i < pairs.length; i++) if (pairs[i].name == name) out.push(pairs[i].value);
  if (out.length == 0) out.push(first);
  return out;
}

function checkKeys(obj: JsonValue, allowed: Array<string>, where: string): bool {
  const keys = obj.keys();
  for (let i = 0; i < keys.length; i++) {
    if (!allowed.includes(keys[i])) return fail(where + ": unknown field '" + keys[i] + "' (expected " + allowed.join(", ") + ")");
  }
  return true;
}

function parseValueRules(list: JsonValue | null, where: string, into: Array<ValueRule>): bool {
  if (list == null) return true;
  if (!list.isArray()) return fail(where + ": must be an array of {\"name\", \"value\"}");
  for (let i = 0; i < list.length; i++) {
    const at = where + "[" + i.toString() + "]";
    const e = list.at(i)!;
    if (!e.isObject()) return fail(at + ": must be an object {\"name\", \"value\"}");
    if (!checkKeys(e, ["name", "value", "keep_empty"], at)) return false;
    const n = e.get("name");
    const v = e.get("value");
    if (n == null || !n.isString()) return fail(at + ": \"name\" must be a string");
    if (v == null || !v.isString()) return fail(at + ": \"value\" must be a string");
    const k = e.get("keep_empty");
    if (k != null && !k.isBool()) return fail(at + ": \"keep_empty\" must be true or false");
    const name = headerName(n.asString(), at);
    if (name == null) return false;
    const template = parseTemplate(v.asString(), at);
    if (template == null) return false;
    into.push(new ValueRule(name, template, k != null && k.asBool()));
  }
  return true;
}

function parseRules(obj: JsonValue | null, where: string): Rules | null {
  const rules = new Rules();
  if (obj == null) return rules;
  if (!obj.isObject()) {
    fail(where + ": must be an object with add, set, remove and/or rename");
    return null;
  }
  if (!checkKeys(obj, ["add", "set", "remove", "rename"], where)) return null;
  if (!parseValueRules(obj.get("add"), where + ".add", rules.add)) return null;
  if (!parseValueRules(obj.get("set"), where + ".set", rules.set)) return null;
  const remove = obj.get("remove");
  if (remove != null) {
    if (!remove.isArray()) {
      fail(where + ".remove: must be an array of header names");
      return null;
    }
    for (let i = 0; i < remove.length; i++) {
      const at = where + ".remove[" + i.toString() + "]";
      const e = remove.at(i)!;
      if (!e.isString()) {
        fail(at + ": must be a string");
        return null;
      }
      const name = headerName(e.asString(), at);
      if (name == null) return null;
      rules.remove.push(name);
    }
  }
  const rename = obj.get("rename");
  if (rename != null) {
    if (!rename.isArray()) {
      fail(where + ".rename: must be an array of {\"from\", \"to\"}");
      return null;
    }
    for (let i = 0; i < rename.length; i++) {
      const at = where + ".rename[" + i.toString() + "]";
      const e = rename.at(i)!;
      if (!e.isObject()) {
        fail(at + ": must be an object {\"from\", \"to\"}");
        return null;
      }
      if (!checkKeys(e, ["from", "to"], at)) return null;
      const f = e.get("from");
      const t = e.get("to");
      if (f == null || !f.isString() || t == null || !t.isString()) {
        fail(at + ": \"from\" and \"to\" must be strings");
        return null;
      }
      const from = headerName(f.asString(), at);
      if (from == null) return null;
      const to = headerName(t.asString(), at);
      if (to == null) return null;
      if (from == to) {
        fail(at + ": \"from\" and \"to\" are the same header '" + from + "'");
        return null;
      }
      rules.rename.push(new RenameRule(from, to));
    }
  }
  return rules;
}

// ---- the filter --------------------------------------------------------------------------

class HeadersRoot extends RootContext {
  request: Rules = new Rules();
  response: Rules = new Rules();
  /** Request headers the response rules read; remembered per stream when non-empty. */
  remember: Array<string> = new Array<string>();

  onConfigure(configurationSize: u32): bool {
    problem = "";
    const text = getPluginConfigurationString();
    if (text.trim().length == 0) {
      logError("headers: configuration is empty; expected a JSON object with \"request\" and/or \"response\" rules");
      return false;
    }
    const config = parseJson(text);
    if (config == null) {
      logError("headers: configuration is not valid JSON: " + jsonError());
      return false;
    }
    if (!config.isObject()) {
      logError("headers: configuration must be a JSON object with \"request\" and/or \"response\"");
      return false;
    }
    const ok = checkKeys(config, ["request", "response"], "configuration");
    const request = ok ? parseRules(config.get("request"), "request") : null;
    const response = request != null ? parseRules(config.get("response"), "response") : null;
    if (request == null || response == null) {
      logError("headers: " + problem);
      return false;
    }
    this.request = request;
    this.response = response;
    this.remember = response.requestHeaderNames();
    return true;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    // No rules at all: streams pass without entering the filter again.
    if (this.request.empty && this.response.empty) return null;
    return new HeadersStream(contextId, this);
  }
}

class HeadersStream extends HttpContext {
  values: RequestValues = new RequestValues();

  constructor(contextId: u32, public plugin: HeadersRoot) {
    super(contextId, plugin);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    // Request headers are not readable from response callbacks (Envoy): keep what the response
    // rules need, as it arrived, before the request rules change anything.
    const remember = this.plugin.remember;
    for (let i = 0; i < remember.length; i++) {
      const v = requestHeaders.get(remember[i]);
      if (v != null) this.values.saved.set(remember[i], v);
    }
    if (!this.plugin.request.empty) this.plugin.request.apply(requestHeaders, this.values);
    this.values.live = false;
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    this.values.live = false;
    if (!this.plugin.response.empty) this.plugin.response.apply(responseHeaders, this.values);
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new HeadersRoot(contextId), "headers");
