/**
 * Sluice's public entry point (`import { Sluice } from 'sluice'`).
 */
export { Sluice, type SluiceOptions } from './server/supervisor.ts';
export { loadConfigFile, loadConfigText } from './config/load.ts';
export { registerHttpFilter, type HttpFilterBuilder, type FilterBuildContext } from './http/filter-registry.ts';
export {
  HeadersStatus,
  DataStatus,
  TrailersStatus,
  type HttpFilter,
  type HttpFilterFactory,
  type FilterCallbacks,
  type BodyChunk,
  type LocalReply,
} from './http/filter.ts';
export { HeaderMap } from './http/header-map.ts';
export { ResponseFlag } from './http/response-flags.ts';
export { SluiceError, ConfigError, ErrorCode } from './errors.ts';
