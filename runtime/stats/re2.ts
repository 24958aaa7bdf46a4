/**
 * Envoy's admin filters (`/stats?filter=`, `/config_dump?name_regex=`) are RE2 expressions. We run
 * them as JavaScript RegExps, after refusing what RE2 refuses (look-around, back-references) and
 * translating the RE2-only spellings operators actually use (`(?P<name>`, a leading `(?i)`), so a
 * filter that Envoy rejects with 400 is rejected here too and a filter it accepts usually works.
 * Not a full RE2 implementation: character-class and Unicode details may differ.
 *
 * Returns undefined for an invalid expression.
 */
export function compileRe2(pattern: string, opts: { fullMatch?: boolean } = {}): RegExp | undefined {
  if (/\(\?<?[=!]/.test(pattern) || /\\[1-9]/.test(pattern)) return undefined;
  let flags = '';
  let src = pattern.replaceAll('(?P<', '(?<');
  const inline = /^\(\?([imsU]+)\)/.exec(src);
  if (inline !== null) {
    if (inline[1].includes('U')) return undefined; // ungreedy mode has no JS equivalent
    for (const f of inline[1]) if (!flags.includes(f)) flags += f;
    src = src.slice(inline[0].length);
  }
  if (opts.fullMatch) src = `^(?:${src})$`;
  try {
    return new RegExp(src, flags);
  } catch {
    return undefined;
  }
}
