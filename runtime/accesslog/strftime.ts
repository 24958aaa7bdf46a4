/**
 * `%START_TIME(fmt)%` formats: strftime (UTC, as Envoy) plus Envoy's extras `%s` (epoch seconds),
 * `%f` / `%1f`…`%9f` (fractional seconds, 9 digits by default) and absl's `%E#S` / `%E*S`
 * (seconds with fraction). Compiled once into parts; Sluice clocks have millisecond precision, so
 * digits past the third are zeros.
 */

type Field = (d: Date, ms: number) => string;

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];

function pad(n: number, width: number, fill = '0'): string {
  return String(n).padStart(width, fill);
}

function fraction(ms: number, digits: number): string {
  const millis = ((ms % 1000) + 1000) % 1000;
  const nine = pad(Math.floor(millis), 3) + '000000';
  return nine.slice(0, digits);
}

function dayOfYear(d: Date): number {
  return Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86400000) + 1;
}

function hour12(d: Date): number {
  const h = d.getUTCHours() % 12;
  return h === 0 ? 12 : h;
}

const SIMPLE: Record<string, Field> = {
  Y: (d) => String(d.getUTCFullYear()),
  C: (d) => pad(Math.floor(d.getUTCFullYear() / 100), 2),
  y: (d) => pad(d.getUTCFullYear() % 100, 2),
  m: (d) => pad(d.getUTCMonth() + 1, 2),
  d: (d) => pad(d.getUTCDate(), 2),
  e: (d) => pad(d.getUTCDate(), 2, ' '),
  j: (d) => pad(dayOfYear(d), 3),
  H: (d) => pad(d.getUTCHours(), 2),
  k: (d) => pad(d.getUTCHours(), 2, ' '),
  I: (d) => pad(hour12(d), 2),
  l: (d) => pad(hour12(d), 2, ' '),
  M: (d) => pad(d.getUTCMinutes(), 2),
  S: (d) => pad(d.getUTCSeconds(), 2),
  p: (d) => (d.getUTCHours() < 12 ? 'AM' : 'PM'),
  a: (d) => DAYS[d.getUTCDay()].slice(0, 3),
  A: (d) => DAYS[d.getUTCDay()],
  b: (d) => MONTHS[d.getUTCMonth()].slice(0, 3),
  h: (d) => MONTHS[d.getUTCMonth()].slice(0, 3),
  B: (d) => MONTHS[d.getUTCMonth()],
  u: (d) => String(d.getUTCDay() === 0 ? 7 : d.getUTCDay()),
  w: (d) => String(d.getUTCDay()),
  Z: () => 'UTC',
  z: () => '+0000',
  s: (_d, ms) => String(Math.floor(ms / 1000)),
  n: () => '\n',
  t: () => '\t',
};

const COMPOSITE: Record<string, string> = {
  T: '%H:%M:%S',
  D: '%m/%d/%y',
  F: '%Y-%m-%d',
  R: '%H:%M',
  r: '%I:%M:%S %p',
  c: '%a %b %e %H:%M:%S %Y',
  x: '%m/%d/%y',
  X: '%H:%M:%S',
};

function parts(fmt: string, out: Array<string | Field>): void {
  let lit = '';
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i];
    if (c !== '%' || i + 1 >= fmt.length) {
      lit += c;
      continue;
    }
    const n = fmt[i + 1];
    let field: Field | undefined;
    let consumed = 1;
    if (n === '%') {
      lit += '%';
      i++;
      continue;
    } else if (n === 'f') {
      field = (_d, ms) => fraction(ms, 9);
    } else if (n >= '1' && n <= '9' && fmt[i + 2] === 'f') {
      const digits = Number(n);
      field = (_d, ms) => fraction(ms, digits);
      consumed = 2;
    } else if (n === 'E' && fmt[i + 3] === 'S' && ((fmt[i + 2] >= '1' && fmt[i + 2] <= '9') || fmt[i + 2] === '*')) {
      const spec = fmt[i + 2];
      field =
        spec === '*'
          ? (d, ms) => {
              const f = fraction(ms, 3).replace(/0+$/, '');
              return pad(d.getUTCSeconds(), 2) + (f === '' ? '' : `.${f}`);
            }
          : (d, ms) => `${pad(d.getUTCSeconds(), 2)}.${fraction(ms, Number(spec))}`;
      consumed = 3;
    } else if (COMPOSITE[n] !== undefined) {
      if (lit !== '') out.push(lit);
      lit = '';
      parts(COMPOSITE[n], out);
      i++;
      continue;
    } else {
      field = SIMPLE[n];
    }
    if (field === undefined) {
      lit += c; // unknown conversion: printed as written, like strftime implementations do
      continue;
    }
    if (lit !== '') out.push(lit);
    lit = '';
    out.push(field);
    i += consumed;
  }
  if (lit !== '') out.push(lit);
}

/** Compiles a START_TIME format; the result maps epoch milliseconds to text (UTC). */
export function compileStrftime(fmt: string): (ms: number) => string {
  const p: Array<string | Field> = [];
  parts(fmt, p);
  return (ms) => {
    const d = new Date(ms);
    let s = '';
    for (const x of p) s += typeof x === 'string' ? x : x(d, ms);
    return s;
  };
}
