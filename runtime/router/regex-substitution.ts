import type { RegexMatchAndSubstitute } from '../config/types.ts';
import { compileRe2, Re2SyntaxError, type Re2Program } from '../re2.ts';

/**
 * Envoy's `RegexMatchAndSubstitute`: replace **every** match of an RE2 pattern (RE2::GlobalReplace).
 *
 * The RE2 rewrite string is translated once into a JS replacement string: `\0` → `$&`,
 * `\1`..`\9` → `$01`..`$09` (two digits so a following digit stays literal), `\\` → `\`, and `$` is
 * doubled. RE2 treats any other `\x` — or a group number above the pattern's group count — as an
 * invalid rewrite and leaves the input unchanged at run time; Sluice rejects it at load instead.
 */
export class RegexSubstitution {
  readonly #program: Re2Program;
  readonly #replacement: string;

  private constructor(program: Re2Program, replacement: string) {
    this.#program = program;
    this.#replacement = replacement;
  }

  /** Throws `Re2SyntaxError` for a bad pattern or substitution. */
  static compile(spec: RegexMatchAndSubstitute): RegexSubstitution {
    const program = compileRe2(spec.pattern.regex);
    return new RegexSubstitution(program, translateRewrite(spec.substitution, program.groupCount));
  }

  replaceAll(input: string): string {
    return input.replace(this.#program.global, this.#replacement);
  }
}

export function translateRewrite(rewrite: string, groupCount: number): string {
  let out = '';
  for (let i = 0; i < rewrite.length; i++) {
    const c = rewrite[i];
    if (c === '$') {
      out += '$$';
      continue;
    }
    if (c !== '\\') {
      out += c;
      continue;
    }
    const d = rewrite[i + 1];
    i++;
    if (d === '\\') {
      out += '\\';
    } else if (d !== undefined && d >= '0' && d <= '9') {
      const n = d.charCodeAt(0) - 48;
      if (n > groupCount) {
        throw new Re2SyntaxError(
          `invalid substitution ${JSON.stringify(rewrite)}: \\${n} but the pattern has ${groupCount} capture group(s)`,
        );
      }
      out += n === 0 ? '$&' : `$0${n}`;
    } else {
      throw new Re2SyntaxError(
        `invalid substitution ${JSON.stringify(rewrite)}: only \\0..\\9 and \\\\ may follow a backslash`,
      );
    }
  }
  return out;
}
