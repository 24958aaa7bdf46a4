/**
 * Envoy's response flags (`%RESPONSE_FLAGS%`), as a bit set on each stream. Short and long names
 * and their order follow Envoy's `ResponseFlagUtils::ALL_RESPONSE_STRINGS_FLAGS`; several flags are
 * printed joined with `,`, and no flag prints `-`.
 */
export const ResponseFlag = {
  FailedLocalHealthCheck: 1 << 0,
  NoHealthyUpstream: 1 << 1,
  UpstreamRequestTimeout: 1 << 2,
  LocalReset: 1 << 3,
  UpstreamRemoteReset: 1 << 4,
  UpstreamConnectionFailure: 1 << 5,
  UpstreamConnectionTermination: 1 << 6,
  UpstreamOverflow: 1 << 7,
  NoRouteFound: 1 << 8,
  DelayInjected: 1 << 9,
  FaultInjected: 1 << 10,
  RateLimited: 1 << 11,
  UnauthorizedExternalService: 1 << 12,
  RateLimitServiceError: 1 << 13,
  DownstreamConnectionTermination: 1 << 14,
  UpstreamRetryLimitExceeded: 1 << 15,
  StreamIdleTimeout: 1 << 16,
  InvalidEnvoyRequestHeaders: 1 << 17,
  DownstreamProtocolError: 1 << 18,
  UpstreamMaxStreamDurationReached: 1 << 19,
  ResponseFromCacheFilter: 1 << 20,
  NoFilterConfigFound: 1 << 21,
  DurationTimeout: 1 << 22,
  UpstreamProtocolError: 1 << 23,
  NoClusterFound: 1 << 24,
  OverloadManager: 1 << 25,
  DnsResolutionFailed: 1 << 26,
  DropOverLoad: 1 << 27,
} as const;
export type ResponseFlag = (typeof ResponseFlag)[keyof typeof ResponseFlag];

/** [bit, short, long] in Envoy's print order. */
const TABLE: ReadonlyArray<readonly [number, string, string]> = [
  [ResponseFlag.FailedLocalHealthCheck, 'LH', 'FailedLocalHealthCheck'],
  [ResponseFlag.NoHealthyUpstream, 'UH', 'NoHealthyUpstream'],
  [ResponseFlag.UpstreamRequestTimeout, 'UT', 'UpstreamRequestTimeout'],
  [ResponseFlag.LocalReset, 'LR', 'LocalReset'],
  [ResponseFlag.UpstreamRemoteReset, 'UR', 'UpstreamRemoteReset'],
  [ResponseFlag.UpstreamConnectionFailure, 'UF', 'UpstreamConnectionFailure'],
  [ResponseFlag.UpstreamConnectionTermination, 'UC', 'UpstreamConnectionTermination'],
  [ResponseFlag.UpstreamOverflow, 'UO', 'UpstreamOverflow'],
  [ResponseFlag.NoRouteFound, 'NR', 'NoRouteFound'],
  [ResponseFlag.DelayInjected, 'DI', 'DelayInjected'],
  [ResponseFlag.FaultInjected, 'FI', 'FaultInjected'],
  [ResponseFlag.RateLimited, 'RL', 'RateLimited'],
  [ResponseFlag.UnauthorizedExternalService, 'UAEX', 'UnauthorizedExternalService'],
  [ResponseFlag.RateLimitServiceError, 'RLSE', 'RateLimitServiceError'],
  [ResponseFlag.DownstreamConnectionTermination, 'DC', 'DownstreamConnectionTermination'],
  [ResponseFlag.UpstreamRetryLimitExceeded, 'URX', 'UpstreamRetryLimitExceeded'],
  [ResponseFlag.StreamIdleTimeout, 'SI', 'StreamIdleTimeout'],
  [ResponseFlag.InvalidEnvoyRequestHeaders, 'IH', 'InvalidEnvoyRequestHeaders'],
  [ResponseFlag.DownstreamProtocolError, 'DPE', 'DownstreamProtocolError'],
  [ResponseFlag.UpstreamMaxStreamDurationReached, 'UMSDR', 'UpstreamMaxStreamDurationReached'],
  [ResponseFlag.ResponseFromCacheFilter, 'RFCF', 'ResponseFromCacheFilter'],
  [ResponseFlag.NoFilterConfigFound, 'NFCF', 'NoFilterConfigFound'],
  [ResponseFlag.DurationTimeout, 'DT', 'DurationTimeout'],
  [ResponseFlag.UpstreamProtocolError, 'UPE', 'UpstreamProtocolError'],
  [ResponseFlag.NoClusterFound, 'NC', 'NoClusterFound'],
  [ResponseFlag.OverloadManager, 'OM', 'OverloadManagerTerminated'],
  [ResponseFlag.DnsResolutionFailed, 'DF', 'DnsResolutionFailed'],
  [ResponseFlag.DropOverLoad, 'DO', 'DropOverload'],
];

export function responseFlagsShort(bits: number): string {
  if (bits === 0) return '-';
  let out = '';
  for (const [bit, short] of TABLE) if (bits & bit) out = out ? `${out},${short}` : short;
  return out;
}

export function responseFlagsLong(bits: number): string {
  if (bits === 0) return '-';
  let out = '';
  for (const [bit, , long] of TABLE) if (bits & bit) out = out ? `${out},${long}` : long;
  return out;
}

/** Short code → bit, for access-log `response_flag_filter`. */
export function responseFlagFromShort(short: string): number | undefined {
  for (const [bit, s] of TABLE) if (s === short) return bit;
  return undefined;
}
