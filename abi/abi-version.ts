/**
 * Proxy-wasm ABI version detection (proxy-wasm-abi.md §2.1). A module declares its ABI by exporting
 * a zero-argument function named `proxy_abi_version_0_1_0`, `_0_2_0` or `_0_2_1`; it is never called.
 * Feed this `WebAssembly.Module.exports(mod).map((e) => e.name)`.
 */

export const AbiVersion = {
  V0_1_0: '0.1.0',
  V0_2_0: '0.2.0',
  V0_2_1: '0.2.1',
} as const;
export type AbiVersion = (typeof AbiVersion)[keyof typeof AbiVersion];

/** Marker export name → version. Spec names appear verbatim only in tables like this one. */
export const ABI_VERSION_EXPORTS = {
  proxy_abi_version_0_1_0: AbiVersion.V0_1_0,
  proxy_abi_version_0_2_0: AbiVersion.V0_2_0,
  proxy_abi_version_0_2_1: AbiVersion.V0_2_1,
} as const satisfies Record<string, AbiVersion>;

const MARKER_PREFIX = 'proxy_abi_version_';

export type AbiVersionScan =
  | { kind: 'found'; version: AbiVersion }
  /** No supported marker. `unknown` lists other `proxy_abi_version_*` exports (e.g. `_vnext`). */
  | { kind: 'none'; unknown: string[] }
  /** More than one supported marker: the module is ambiguous. `versions` in export order. */
  | { kind: 'multiple'; versions: AbiVersion[] };

/**
 * Full scan, for error messages. Unlike cpp-host (first match wins) and ngx_wasm_module (newest
 * wins), two different supported markers are reported as ambiguous rather than guessed.
 */
export function scanAbiVersion(exportNames: readonly string[]): AbiVersionScan {
  const versions: AbiVersion[] = [];
  const unknown: string[] = [];
  for (const name of exportNames) {
    if (!name.startsWith(MARKER_PREFIX)) continue;
    const version = Object.hasOwn(ABI_VERSION_EXPORTS, name)
      ? ABI_VERSION_EXPORTS[name as keyof typeof ABI_VERSION_EXPORTS]
      : undefined;
    if (version === undefined) unknown.push(name);
    else if (!versions.includes(version)) versions.push(version);
  }
  if (versions.length === 1) return { kind: 'found', version: versions[0] };
  if (versions.length > 1) return { kind: 'multiple', versions };
  return { kind: 'none', unknown };
}

/**
 * The module's ABI version, or `undefined` when it has no supported marker or more than one
 * (use `scanAbiVersion` to tell which). A host refuses to load on `undefined`, as cpp-host does
 * ("Missing or unknown Proxy-Wasm ABI version").
 */
export function detectAbiVersion(exportNames: readonly string[]): AbiVersion | undefined {
  const scan = scanAbiVersion(exportNames);
  return scan.kind === 'found' ? scan.version : undefined;
}
