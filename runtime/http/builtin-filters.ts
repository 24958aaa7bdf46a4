import { registerHttpFilter } from './filter-registry.ts';
import { DataStatus, HeadersStatus, type FilterCallbacks, type HttpFilter } from './filter.ts';
import type { HeaderMap } from './header-map.ts';
import { message, uint32 } from '../config/schema.ts';

/**
 * Native filters shipped with Sluice, registered by `@type`.
 *
 * `envoy.extensions.filters.http.buffer.v3.Buffer {max_request_bytes}`: holds the whole request
 * body before the router sees it, answering 413 when it exceeds `max_request_bytes`, and sets
 * content-length on the buffered request (Envoy's buffer filter).
 */
export const BUFFER_FILTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer';

class BufferFilter implements HttpFilter {
  readonly #cb: FilterCallbacks;
  readonly #max: number;
  #size = 0;
  #headers: HeaderMap | undefined;

  constructor(cb: FilterCallbacks, max: number) {
    this.#cb = cb;
    this.#max = max;
  }

  onRequestHeaders(headers: HeaderMap, endStream: boolean) {
    if (endStream) return HeadersStatus.Continue;
    // Like Envoy's buffer filter: the stream may buffer up to max_request_bytes (plus one chunk).
    this.#cb.setRequestBufferLimit(this.#max + 64 * 1024);
    this.#headers = headers;
    return HeadersStatus.StopIteration;
  }

  onRequestBody(chunk: { data: Buffer }, endStream: boolean) {
    this.#size += chunk.data.length;
    if (this.#size > this.#max) {
      this.#cb.sendLocalReply({ status: 413, body: 'Payload Too Large', details: 'request_payload_too_large' });
      return DataStatus.StopIterationNoBuffer;
    }
    if (!endStream) return DataStatus.StopIterationAndBuffer;
    this.#headers?.set('content-length', String(this.#size));
    this.#headers?.remove('transfer-encoding');
    return DataStatus.Continue;
  }
}

registerHttpFilter(
  BUFFER_FILTER_TYPE,
  message({ fields: { max_request_bytes: uint32({ min: 1 }) }, required: ['max_request_bytes'] }),
  (config) => {
    const max = Number((config.typed_config?.value as { max_request_bytes?: number } | undefined)?.max_request_bytes ?? 0);
    return { name: config.name, create: (cb) => new BufferFilter(cb, max) };
  },
);
