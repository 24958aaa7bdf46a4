/**
 * The Sluice SDK for proxy-wasm filters in AssemblyScript: everything a filter imports.
 *
 *   import { RootContext, HttpContext, registerRootContext, requestHeaders } from "@sluice/sdk";
 *   export * from "@sluice/sdk/exports";
 *
 * API reference with an example per function: sdk/README.md.
 */
import "./runtime-hooks";

export {
  WasmResult,
  LogLevel,
  MapType,
  BufferType,
  BufferFlags,
  StreamType,
  Action,
  FilterStatus,
  FilterHeadersStatus,
  FilterDataStatus,
  FilterTrailersStatus,
  FilterMetadataStatus,
  PeerType,
  MetricType,
  GrpcStatus,
} from "./enums";
export { Context, RootContext, HttpContext, RootContextFactory, registerRootContext } from "./context";
export { HeaderPair, pair, serializePairs, deserializePairs, findPair } from "./pairs";
export {
  HeaderMap,
  requestHeaders,
  requestTrailers,
  responseHeaders,
  responseTrailers,
  httpCallResponseHeaders,
  httpCallResponseTrailers,
  grpcInitialMetadata,
  grpcTrailingMetadata,
} from "./headers";
export { Body, requestBody, responseBody } from "./body";
export {
  continueRequest,
  continueResponse,
  closeRequest,
  closeResponse,
  sendLocalResponse,
  sendLocalResponseBytes,
} from "./stream";
export {
  getProperty,
  getPropertyPath,
  getPropertyString,
  getPropertyI64,
  getPropertyU64,
  getPropertyF64,
  getPropertyBool,
  getPropertyDuration,
  getPropertyTimestamp,
  getPropertyMap,
  getPropertyList,
  setProperty,
  setPropertyPath,
  setPropertyString,
  decodeI64,
  decodeU64,
  decodeF64,
  decodeBool,
  decodeMap,
  decodeList,
  pluginName,
  pluginRootId,
  pluginVmId,
} from "./properties";
export {
  getPluginConfiguration,
  getPluginConfigurationString,
  getPluginConfigurationJson,
  getVmConfiguration,
  getVmConfigurationString,
  getVmConfigurationJson,
} from "./config";
export { JsonKind, JsonValue, MAX_JSON_DEPTH, parseJson, parseJsonBytes, jsonError, stringifyJson } from "./json";
export { HttpCallResponse, httpCall, pendingHttpCalls } from "./http-call";
export { GrpcCallResponse, GrpcStream, GrpcStreamHandler, grpcCall, grpcStream } from "./grpc";
export { SharedData, getSharedData, setSharedData, setSharedDataString, updateSharedDataString } from "./shared-data";
export {
  registerSharedQueue,
  resolveSharedQueue,
  enqueueSharedQueue,
  enqueueSharedQueueString,
  dequeueSharedQueue,
  dequeueSharedQueueString,
} from "./shared-queue";
export { Counter, Gauge, Histogram } from "./metrics";
export { log, logTrace, logDebug, logInfo, logWarn, logError, logCritical, getLogLevel } from "./log";
export { getCurrentTimeNanoseconds, getCurrentTimeMilliseconds } from "./time";
export { callForeignFunction, getForeignFunctionArguments } from "./foreign";
export { ConfigReader, isHeaderName } from "./config-reader";
