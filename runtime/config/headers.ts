/**
 * Header mutation lists (`request_headers_to_add`, …) shared by route tables, virtual hosts, routes
 * and weighted clusters. The deprecated `append` bool is folded into `append_action`.
 */
import type { AppendAction, HeaderValueOption } from './types.ts';
import { BYTES } from './data-source.ts';
import { bool, enumOf, list, message, refine, str } from './schema.ts';
import type { Parser } from './schema.ts';

const APPEND_ACTIONS = ['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'] as const;

const NO_CONTROL_CHARS = (v: string): string | undefined =>
  /[\0\r\n]/.test(v) ? 'must not contain NUL, CR or LF' : undefined;

/** Envoy refuses to add or remove pseudo-headers and Host (rewrites exist for those). */
const MUTABLE_HEADER_NAME = refine(str({ minLen: 1 }), (name) => {
  const lower = name.toLowerCase();
  if (lower.startsWith(':') || lower === 'host') return `header "${name}" cannot be modified this way (pseudo-headers and host are off limits)`;
  return NO_CONTROL_CHARS(name);
});

const HEADER_VALUE = message({
  fields: { key: MUTABLE_HEADER_NAME, value: refine(str(), NO_CONTROL_CHARS), raw_value: refine(BYTES, NO_CONTROL_CHARS) },
  required: ['key'],
  oneOf: [{ fields: ['value', 'raw_value'] }],
  build: (f) => (f.key === undefined ? undefined : { key: f.key, value: f.value ?? f.raw_value ?? '' }),
});

export const HEADER_VALUE_OPTION: Parser<HeaderValueOption> = message({
  fields: {
    header: HEADER_VALUE,
    append: bool,
    append_action: enumOf(APPEND_ACTIONS),
    keep_empty_value: bool,
  },
  required: ['header'],
  oneOf: [{ fields: ['append', 'append_action'] }],
  build(f) {
    if (f.header === undefined) return undefined;
    const legacy: AppendAction = f.append === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD';
    const out: HeaderValueOption = { header: f.header, append_action: f.append_action ?? legacy };
    if (f.keep_empty_value !== undefined) out.keep_empty_value = f.keep_empty_value;
    return out;
  },
});

export const HEADER_MUTATION_FIELDS = {
  request_headers_to_add: list(HEADER_VALUE_OPTION),
  request_headers_to_remove: list(MUTABLE_HEADER_NAME),
  response_headers_to_add: list(HEADER_VALUE_OPTION),
  response_headers_to_remove: list(MUTABLE_HEADER_NAME),
};
