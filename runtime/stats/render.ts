import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { HISTOGRAM_BOUNDS } from './layout.ts';
import { compileRe2Search } from '../re2.ts';
import {
  computeQuantiles,
  cumulativeBuckets,
  SUPPORTED_QUANTILES,
  type HistogramData,
  type HistogramSnapshot,
  type StatsSnapshot,
} from './snapshot.ts';
import { extractTags, prometheusMetricName, sanitizePrometheusName } from './tag-extraction.ts';

/**
 * Envoy's admin stats views over a `StatsSnapshot`: `/stats` text and JSON
 * (`source/server/admin/stats_render.cc`) and Prometheus (`prometheus_stats.cc`, rendered with
 * prom-client). Query parameters follow `stats_params.cc`.
 *
 * `/stats` text and JSON print every stat under its full name, so Wasm-defined metrics keep their
 * `wasmcustom.` prefix there (Envoy renders `stat->name()`; the custom namespace matters only to
 * Prometheus), and `filter=` matches that full name in all three formats.
 */

export const StatsType = {
  All: 'All',
  Counters: 'Counters',
  Gauges: 'Gauges',
  Histograms: 'Histograms',
  TextReadouts: 'TextReadouts',
} as const;
export type StatsType = (typeof StatsType)[keyof typeof StatsType];

export type StatsFormat = 'text' | 'json' | 'prometheus';

export interface StatsParams {
  usedOnly: boolean;
  /** Partial-match filter on the full stat name. */
  filter: RegExp | undefined;
  type: StatsType;
  format: StatsFormat;
  pretty: boolean;
}

export type StatsParamsResult = { ok: true; params: StatsParams } | { ok: false; error: string };

export const TEXT_CONTENT_TYPE = 'text/plain; charset=UTF-8';
export const JSON_CONTENT_TYPE = 'application/json';
export const PROMETHEUS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

const TYPES = new Set<string>(Object.values(StatsType));

/** Parses `/stats` query parameters; the error text is Envoy's 400 body. */
export function parseStatsParams(query: URLSearchParams): StatsParamsResult {
  const params: StatsParams = {
    usedOnly: query.has('usedonly'),
    filter: undefined,
    type: StatsType.All,
    format: 'text',
    pretty: query.has('pretty'),
  };
  const filter = query.get('filter');
  if (filter !== null && filter !== '') {
    params.filter = compileRe2Search(filter);
    if (params.filter === undefined) return { ok: false, error: 'Invalid re2 regex' };
  }
  const type = query.get('type');
  if (type !== null && type !== '') {
    if (!TYPES.has(type)) return { ok: false, error: 'invalid &type= param' };
    params.type = type as StatsType;
  }
  const format = query.get('format');
  if (format !== null && format !== '') {
    if (format === 'text' || format === 'json' || format === 'prometheus') params.format = format;
    else if (format === 'html' || format === 'active-html') {
      return { ok: false, error: `${format === 'html' ? 'HTML' : 'Active HTML'} output was disabled by building with --define=admin_html=disabled` };
    } else return { ok: false, error: 'usage: /stats?format=(html|active-html|json|prometheus|text)\n\n' };
  }
  return { ok: true, params };
}

export function defaultStatsParams(overrides: Partial<StatsParams> = {}): StatsParams {
  return { usedOnly: false, filter: undefined, type: StatsType.All, format: 'text', pretty: false, ...overrides };
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function shown(name: string, used: boolean, p: StatsParams): boolean {
  if (p.usedOnly && !used) return false;
  if (p.filter !== undefined) {
    p.filter.lastIndex = 0;
    if (!p.filter.test(name)) return false;
  }
  return true;
}

interface Numeric {
  name: string;
  value: number;
}

/** Counters and gauges together, sorted by name (Envoy's text/JSON order). "Used" = non-zero. */
function numericStats(s: StatsSnapshot, p: StatsParams): Numeric[] {
  const out: Numeric[] = [];
  if (p.type === StatsType.All || p.type === StatsType.Counters) {
    for (const [name, value] of s.counters) if (shown(name, value !== 0, p)) out.push({ name, value });
  }
  if (p.type === StatsType.All || p.type === StatsType.Gauges) {
    for (const [name, value] of s.gauges) if (shown(name, value !== 0, p)) out.push({ name, value });
  }
  return out.sort((a, b) => byName(a.name, b.name));
}

function histogramStats(s: StatsSnapshot, p: StatsParams): Array<[string, HistogramSnapshot]> {
  if (p.type !== StatsType.All && p.type !== StatsType.Histograms) return [];
  const out: Array<[string, HistogramSnapshot]> = [];
  for (const entry of s.histograms) if (shown(entry[0], entry[1].cumulative.count > 0, p)) out.push(entry);
  return out.sort((a, b) => byName(a[0], b[0]));
}

/**
 * C's `%g` (what Envoy's `fmt` prints for quantiles): 6 significant digits, trailing zeros
 * dropped, exponent form outside [1e-4, 1e6); `nan` for NaN.
 */
export function formatG(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return '0';
  const [mant, expStr] = x.toExponential(5).split('e');
  const exp = Number(expStr);
  if (exp < -4 || exp >= 6) {
    const m = mant.includes('.') ? mant.replace(/\.?0+$/, '') : mant;
    return `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const fixed = x.toFixed(Math.max(0, 5 - exp));
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

const QUANTILE_LABELS = SUPPORTED_QUANTILES.map((q) => `P${formatG(q * 100)}`);

function quantileSummary(h: HistogramSnapshot): string {
  const cumulative = computeQuantiles(h.cumulative);
  const interval = h.interval === undefined ? undefined : computeQuantiles(h.interval);
  const parts = new Array<string>(cumulative.length);
  for (let i = 0; i < cumulative.length; i++) {
    parts[i] = `${QUANTILE_LABELS[i]}(${formatG(interval === undefined ? NaN : interval[i])},${formatG(cumulative[i])})`;
  }
  return parts.join(' ');
}

/** `/stats` text: `name: value` lines, then histograms (`No recorded values` when empty). */
export function renderStatsText(s: StatsSnapshot, p: StatsParams): string {
  let out = '';
  for (const { name, value } of numericStats(s, p)) out += `${name}: ${value}\n`;
  for (const [name, h] of histogramStats(s, p)) {
    out += h.cumulative.count > 0 ? `${name}: ${quantileSummary(h)}\n` : `${name}: No recorded values\n`;
  }
  return out;
}

function jsonNumber(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** `/stats?format=json`. */
export function renderStatsJson(s: StatsSnapshot, p: StatsParams): string {
  const stats: unknown[] = numericStats(s, p).map(({ name, value }) => ({ name, value }));
  const hist = histogramStats(s, p);
  if (hist.length > 0) {
    const computed = hist.map(([name, h]) => {
      const cumulative = computeQuantiles(h.cumulative);
      const interval = h.interval === undefined ? undefined : computeQuantiles(h.interval);
      return {
        name,
        values: cumulative.map((c, i) => ({
          interval: interval === undefined ? null : jsonNumber(interval[i]),
          cumulative: jsonNumber(c),
        })),
      };
    });
    stats.push({
      histograms: {
        supported_quantiles: SUPPORTED_QUANTILES.map((q) => Math.round(q * 1000) / 10),
        computed_quantiles: computed,
      },
    });
  }
  return p.pretty ? JSON.stringify({ stats }, null, 2) : JSON.stringify({ stats });
}

// ---------- Prometheus ----------

interface Series<T> {
  statName: string;
  labels: Record<string, string>;
  value: T;
}

interface Group<T> {
  promName: string;
  /** The tag-extracted name the group sorts by (the smallest, should two spell the same promName). */
  extractedName: string;
  labelNames: Set<string>;
  series: Array<Series<T>>;
}

/**
 * Envoy's `SymbolTable::lessThan`, the order of series within a Prometheus group: dotted names
 * compared token by token, a name that is a prefix of another first.
 */
function byTokens(a: string, b: string): number {
  const ta = a.split('.');
  const tb = b.split('.');
  const n = Math.min(ta.length, tb.length);
  for (let i = 0; i < n; i++) if (ta[i] !== tb[i]) return ta[i] < tb[i] ? -1 : 1;
  return ta.length - tb.length;
}

/**
 * Groups one stat type by Prometheus name, in Envoy's order (`GroupedStatsRequest`): groups by
 * tag-extracted name, series within a group by full stat name. A stat whose name Envoy cannot
 * expose (a custom-namespace name that is empty or starts with a digit) is left out.
 */
function groupByPromName<T>(entries: Iterable<[string, T]>, used: (v: T) => boolean, p: StatsParams): Array<Group<T>> {
  const groups = new Map<string, Group<T>>();
  for (const [statName, value] of entries) {
    if (!shown(statName, used(value), p)) continue;
    const { name, tags } = extractTags(statName);
    const promName = prometheusMetricName(name);
    if (promName === undefined) continue;
    let g = groups.get(promName);
    if (g === undefined) groups.set(promName, (g = { promName, extractedName: name, labelNames: new Set(), series: [] }));
    else if (name < g.extractedName) g.extractedName = name;
    const labels: Record<string, string> = {};
    for (const [tag, v] of tags) {
      const label = sanitizePrometheusName(tag);
      labels[label] = v;
      g.labelNames.add(label);
    }
    g.series.push({ statName, labels, value });
  }
  const out = [...groups.values()].sort((a, b) => byName(a.extractedName, b.extractedName) || byName(a.promName, b.promName));
  for (const g of out) g.series.sort((a, b) => byTokens(a.statName, b.statName));
  return out;
}

/**
 * prom-client's Histogram observes raw samples; ours arrive pre-bucketed from shared memory. This
 * subclass replaces the exported values (prom-client's registry prefers `getForPromString`) and
 * keeps Envoy's label order: tags first, `le` last.
 */
class BucketedHistogram extends Histogram<string> {
  readonly #promName: string;
  readonly #values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];

  constructor(promName: string, labelNames: string[], registry: Registry) {
    super({ name: promName, help: promName, labelNames, buckets: [...HISTOGRAM_BOUNDS], registers: [registry] });
    this.#promName = promName;
  }

  addSeries(labels: Record<string, string>, data: HistogramData): void {
    const bucketName = `${this.#promName}_bucket`;
    const cum = cumulativeBuckets(data);
    for (let i = 0; i < HISTOGRAM_BOUNDS.length; i++) {
      this.#values.push({ labels: { ...labels, le: HISTOGRAM_BOUNDS[i] }, value: cum[i], metricName: bucketName });
    }
    this.#values.push({ labels: { ...labels, le: '+Inf' }, value: data.count, metricName: bucketName });
    this.#values.push({ labels, value: data.sum, metricName: `${this.#promName}_sum` });
    this.#values.push({ labels, value: data.count, metricName: `${this.#promName}_count` });
  }

  getForPromString(): Promise<{ name: string; help: string; type: string; values: unknown[]; aggregator: string }> {
    return Promise.resolve({
      name: this.#promName,
      help: this.#promName,
      type: 'histogram',
      values: this.#values,
      aggregator: 'sum',
    });
  }
}

/**
 * Envoy's `/stats/prometheus`: counters, then gauges, then histograms, each grouped by
 * `envoy_<tag-extracted name>` and sorted. Wasm-defined metrics (`wasmcustom.<name>`) are
 * exported as `<name>`, without the namespace and without `envoy_` (tag-extraction.ts
 * `prometheusMetricName`), as Envoy does for registered custom stat namespaces. A name that
 * already appeared with another type is skipped (Prometheus allows one TYPE per name; Envoy
 * would print both). prom-client renders; we then drop its `# HELP` lines and write `{}` on
 * untagged samples, as Envoy does.
 */
export async function renderPrometheus(s: StatsSnapshot, p: StatsParams): Promise<string> {
  const registry = new Registry();
  const taken = new Set<string>();
  for (const g of groupByPromName(s.counters, (v) => v !== 0, p)) {
    if (taken.has(g.promName)) continue;
    taken.add(g.promName);
    const c = new Counter({ name: g.promName, help: g.promName, labelNames: [...g.labelNames], registers: [registry] });
    for (const x of g.series) c.inc(x.labels, x.value);
  }
  for (const g of groupByPromName(s.gauges, (v) => v !== 0, p)) {
    if (taken.has(g.promName)) continue;
    taken.add(g.promName);
    const gauge = new Gauge({ name: g.promName, help: g.promName, labelNames: [...g.labelNames], registers: [registry] });
    for (const x of g.series) gauge.set(x.labels, x.value);
  }
  const hist = groupByPromName(
    [...s.histograms].map(([n, h]): [string, HistogramData] => [n, h.cumulative]),
    (h) => h.count > 0,
    p,
  );
  for (const g of hist) {
    if (taken.has(g.promName)) continue;
    taken.add(g.promName);
    const h = new BucketedHistogram(g.promName, [...g.labelNames], registry);
    for (const x of g.series) h.addSeries(x.labels, x.value);
  }
  if (taken.size === 0) return '';
  return envoyStyle(await registry.metrics());
}

function envoyStyle(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (const line of lines) {
    if (line.startsWith('# HELP ')) continue;
    if (line.length === 0 || line.charCodeAt(0) === 35 /* # */) {
      out.push(line);
      continue;
    }
    const sp = line.indexOf(' ');
    const br = line.indexOf('{');
    out.push(br === -1 || br > sp ? `${line.slice(0, sp)}{}${line.slice(sp)}` : line);
  }
  return out.join('\n');
}
