/**
 * RE2 patterns (Envoy's `safe_regex`) translated to JavaScript `RegExp`s with the `u` flag.
 *
 * Contract:
 * - `compileRe2` either returns ready-to-share `RegExp`s or throws `Re2SyntaxError`; callers turn
 *   that into a config problem. Nothing is compiled per request.
 * - `full` is RE2 `FullMatch` (anchored at both ends); `global` is for `GlobalReplace`. A `global`
 *   regexp keeps `lastIndex` state, but `String.prototype.replace` resets it, so it is safe to share.
 *
 * What is translated: `(?P<name>…)`, inline flags `(?i)` / `(?i:…)` (i, m, s; as JS modifier
 * groups, re-opened after each `|` so they keep RE2's "rest of the group" scope), `\A`, `\z`, `\Q…\E`,
 * `\pL` / `\p{Greek}` / `\p{^L}`, `\x{…}`, octal `\0nn`, `\a`, POSIX classes `[[:alpha:]]`, a literal
 * `{`/`}` that is not a repetition, and escaped punctuation.
 * What is rejected, as RE2 rejects it: back-references, look-around, `\C`, `\Z`, `(?U)`, repetition
 * counts above 1000. RE2's program-size limit is not modelled.
 */

export class Re2SyntaxError extends Error {
  override readonly name = 'Re2SyntaxError';
}

export interface Re2Program {
  /** The RE2 source, as configured. */
  readonly source: string;
  /** Anchored full-string match (RE2::FullMatch). */
  readonly full: RegExp;
  /** Unanchored, global: for replace-all (RE2::GlobalReplace). */
  readonly global: RegExp;
  /** Number of capturing groups. */
  readonly groupCount: number;
}

export function compileRe2(pattern: string): Re2Program {
  const src = translateRe2(pattern);
  let full: RegExp;
  let global: RegExp;
  let probe: RegExp;
  try {
    full = new RegExp(`^(?:${src})$`, 'u');
    global = new RegExp(src, 'gu');
    probe = new RegExp(`${src}|`, 'u');
  } catch (err) {
    throw new Re2SyntaxError(`invalid regex ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
  const groupCount = (probe.exec('') as RegExpExecArray).length - 1;
  return { source: pattern, full, global, groupCount };
}

/** JS syntax characters: escaping them with `\` is valid in `u` mode, inside or outside a class. */
const JS_SYNTAX = '^$\\.*+?()[]{}|/';
/** Characters that must be escaped inside a JS class. */
const JS_CLASS_SPECIAL = '\\]^-[';

const GENERAL_CATEGORIES = new Set([
  'C', 'Cc', 'Cf', 'Co', 'Cs', 'L', 'Ll', 'Lm', 'Lo', 'Lt', 'Lu', 'M', 'Mc', 'Me', 'Mn', 'N', 'Nd',
  'Nl', 'No', 'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps', 'S', 'Sc', 'Sk', 'Sm', 'So', 'Z', 'Zl',
  'Zp', 'Zs', 'Any',
]);

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const REPEAT = /\{(\d+)(,(\d*))?\}/y;
const FLAG_GROUP = /\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])/y;
const MAX_REPEAT = 1000;

function literal(ch: string, inClass: boolean): string {
  if (inClass) return JS_CLASS_SPECIAL.includes(ch) ? `\\${ch}` : ch;
  return JS_SYNTAX.includes(ch) ? `\\${ch}` : ch;
}

function fail(pattern: string, at: number, what: string): never {
  throw new Re2SyntaxError(`invalid regex ${JSON.stringify(pattern)} at offset ${at}: ${what}`);
}

/** Translates one RE2 pattern into JavaScript `u`-mode regex source. */
export function translateRe2(p: string): string {
  let out = '';
  let i = 0;
  // For each open group: the inline-flag specs `(?i)` opened inside it (closed with the group).
  const open: string[][] = [[]];
  while (i < p.length) {
    const c = p[i];
    if (c === '\\') {
      const [s, next] = escape(p, i, false);
      out += s;
      i = next;
    } else if (c === '[') {
      const [s, next] = charClass(p, i);
      out += s;
      i = next;
    } else if (c === '(') {
      if (p[i + 1] !== '?') {
        out += '(';
        i++;
        open.push([]);
        continue;
      }
      if (p.startsWith('(?P<', i)) {
        out += '(?<';
        i += 4;
        open.push([]);
        continue;
      }
      if (p.startsWith('(?<', i) && p[i + 3] !== '=' && p[i + 3] !== '!') {
        out += '(?<';
        i += 3;
        open.push([]);
        continue;
      }
      if (p.startsWith('(?:', i)) {
        out += '(?:';
        i += 3;
        open.push([]);
        continue;
      }
      FLAG_GROUP.lastIndex = i;
      const m = FLAG_GROUP.exec(p);
      if (m === null) fail(p, i, 'unsupported group syntax (RE2 has no look-around or back-references)');
      const on = m[1];
      const off = m[2];
      if (/[^ims]/.test(on + (off ?? ''))) fail(p, i, `unsupported flag in ${m[0]} (RE2 flags here: i, m, s)`);
      if ((on === '' && off === undefined) || off === '') fail(p, i, `missing flags in ${m[0]}`);
      const spec = `(?${dedupe(on)}${off === undefined ? '' : `-${dedupe(off)}`}:`;
      out += spec;
      i += m[0].length;
      if (m[3] === ':') open.push([]);
      else open[open.length - 1].push(spec);
    } else if (c === ')') {
      if (open.length === 1) fail(p, i, 'unexpected )');
      const flags = open.pop() as string[];
      out += ')'.repeat(flags.length + 1);
      i++;
    } else if (c === '|') {
      // RE2 scopes `(?i)` to the rest of the enclosing group, across alternatives: close the
      // modifier groups before `|` and re-open them after it.
      const flags = open[open.length - 1];
      out += `${')'.repeat(flags.length)}|${flags.join('')}`;
      i++;
    } else if (c === '{') {
      REPEAT.lastIndex = i;
      const m = REPEAT.exec(p);
      if (m === null) {
        out += '\\{';
        i++;
        continue;
      }
      const lo = Number(m[1]);
      const hi = m[3] === undefined || m[3] === '' ? lo : Number(m[3]);
      if (lo > MAX_REPEAT || hi > MAX_REPEAT) fail(p, i, `repetition count above ${MAX_REPEAT}`);
      if (m[3] !== undefined && m[3] !== '' && hi < lo) fail(p, i, 'bad repetition range');
      out += m[0];
      i += m[0].length;
    } else if (c === '}') {
      out += '\\}';
      i++;
    } else {
      out += c;
      i++;
    }
  }
  if (open.length !== 1) fail(p, p.length, 'missing )');
  out += ')'.repeat(open[0].length);
  return out;
}

function dedupe(flags: string): string {
  return [...new Set(flags)].join('');
}

function escape(p: string, i: number, inClass: boolean): [string, number] {
  const c = p[i + 1];
  if (c === undefined) fail(p, i, 'trailing \\');
  switch (c) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 's':
    case 'S':
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'v':
      return [`\\${c}`, i + 2];
    case 'a':
      return ['\\x07', i + 2];
    case 'b':
    case 'B':
      if (inClass) fail(p, i, `\\${c} inside a character class`);
      return [`\\${c}`, i + 2];
    case 'A':
      if (inClass) fail(p, i, '\\A inside a character class');
      return ['(?<![\\s\\S])', i + 2];
    case 'z':
      if (inClass) fail(p, i, '\\z inside a character class');
      return ['(?![\\s\\S])', i + 2];
    case 'x': {
      if (p[i + 2] === '{') {
        const end = p.indexOf('}', i + 3);
        const hex = end < 0 ? '' : p.slice(i + 3, end);
        if (!/^[0-9A-Fa-f]{1,6}$/.test(hex) || Number.parseInt(hex, 16) > 0x10ffff) fail(p, i, 'bad \\x{...} escape');
        return [`\\u{${hex}}`, end + 1];
      }
      const hex = p.slice(i + 2, i + 4);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) fail(p, i, 'bad \\x escape');
      return [`\\x${hex}`, i + 4];
    }
    case 'p':
    case 'P': {
      let name: string;
      let next: number;
      if (p[i + 2] === '{') {
        const end = p.indexOf('}', i + 3);
        if (end < 0) fail(p, i, 'unterminated \\p{');
        name = p.slice(i + 3, end);
        next = end + 1;
      } else {
        name = p[i + 2] ?? '';
        next = i + 3;
      }
      let negate = c === 'P';
      if (name.startsWith('^')) {
        negate = !negate;
        name = name.slice(1);
      }
      if (!/^[A-Za-z_]+$/.test(name)) fail(p, i, 'bad Unicode class');
      const prop = GENERAL_CATEGORIES.has(name) ? name : `Script=${name}`;
      return [`\\${negate ? 'P' : 'p'}{${prop}}`, next];
    }
    case 'Q': {
      const end = p.indexOf('\\E', i + 2);
      const text = end < 0 ? p.slice(i + 2) : p.slice(i + 2, end);
      let s = '';
      for (const ch of text) s += literal(ch, inClass);
      return [s, end < 0 ? p.length : end + 2];
    }
    case 'E':
      // A stray \E (no \Q) is ignored by RE2.
      return ['', i + 2];
    default:
      break;
  }
  if (c >= '0' && c <= '7') {
    // RE2: \0 and \1..\7 followed by another octal digit are octal escapes (up to 3 digits);
    // a lone \1..\9 would be a back-reference, which RE2 does not support.
    if (c !== '0' && !(p[i + 2] >= '0' && p[i + 2] <= '7')) fail(p, i, 'back-references are not supported');
    let j = i + 2;
    while (j < i + 4 && p[j] >= '0' && p[j] <= '7') j++;
    const code = Number.parseInt(p.slice(i + 1, j), 8);
    return [`\\x${code.toString(16).padStart(2, '0')}`, j];
  }
  if (c === '8' || c === '9') fail(p, i, 'back-references are not supported');
  const code = c.charCodeAt(0);
  if (code >= 0x80 || /[A-Za-z]/.test(c)) fail(p, i, `invalid escape \\${c}`);
  // Escaped punctuation is a literal.
  return [literal(c, inClass), i + 2];
}

function charClass(p: string, i: number): [string, number] {
  let out = '[';
  let j = i + 1;
  if (p[j] === '^') {
    out += '^';
    j++;
  }
  let first = true;
  for (;;) {
    if (j >= p.length) fail(p, i, 'missing ]');
    const c = p[j];
    if (c === ']' && !first) return [`${out}]`, j + 1];
    first = false;
    if (c === '[' && p[j + 1] === ':') {
      const end = p.indexOf(':]', j + 2);
      if (end > 0) {
        const name = p.slice(j + 2, end);
        const set = POSIX_CLASSES[name];
        if (set === undefined) fail(p, j, `unsupported POSIX class [:${name}:]`);
        out += set;
        j = end + 2;
        continue;
      }
    }
    if (c === '\\') {
      const [s, next] = escape(p, j, true);
      out += s;
      j = next;
      continue;
    }
    // `]` first in the class and a bare `[` are literals in RE2.
    out += c === ']' || c === '[' ? `\\${c}` : c;
    j++;
  }
}

/**
 * For admin filters (`/stats?filter=`): an unanchored search regex, or undefined when the
 * pattern is not valid RE2 (the admin answers 400 `Invalid re2 regex`).
 */
export function compileRe2Search(pattern: string): RegExp | undefined {
  try {
    return new RegExp(translateRe2(pattern), 'u');
  } catch {
    return undefined;
  }
}

/** Full-string match regex, or undefined when the pattern is not valid RE2. */
export function compileRe2FullMatch(pattern: string): RegExp | undefined {
  try {
    return compileRe2(pattern).full;
  } catch {
    return undefined;
  }
}
