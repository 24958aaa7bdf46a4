import type { Pairs } from '../../abi/host-context.ts';
import type { Cluster } from '../upstream/cluster.ts';
import { HOP_BY_HOP_REQUEST } from '../http/router.ts';
import { UpstreamErrorCode, type UpstreamController, type UpstreamHandler } from '../upstream/h1-pool.ts';

/** What `proxy_on_http_call_response` delivers: headers incl. `:status`, body, trailers; or a reset. */
export type HttpCallOutcome =
  | { kind: 'response'; headers: Pairs; body: Uint8Array; trailers: Pairs }
  | { kind: 'reset' };

/** Envoy's async client refuses responses above its buffer limit; the call then fails as a reset. */
export const MAX_HTTP_CALL_RESPONSE_BYTES = 4 * 1024 * 1024;


/**
 * One `proxy_http_call` to a cluster (Envoy `Context::httpCall` over its AsyncClient): picks a host,
 * sends the request on the host's pooled connections, buffers the response. Failures surface as
 * Envoy's async client surfaces them: no healthy host ⇒ a synthesized 503, timeout ⇒ a synthesized
 * 504 (both as responses), a reset after the response started ⇒ `reset`.
 * Returns a cancel function (the caller's root context went away).
 */
export function dispatchHttpCall(
  cluster: Cluster,
  req: { headers: Pairs; body: Uint8Array; trailers: Pairs; timeoutMs: number },
  done: (outcome: HttpCallOutcome) => void,
): () => void {
  let finished = false;
  const finish = (o: HttpCallOutcome) => {
    if (finished) return;
    finished = true;
    if (timer !== undefined) clearTimeout(timer);
    // Always from a later event-loop turn, never inside the host call (§7.1).
    setImmediate(() => done(o));
  };
  const host = cluster.pickHost();
  let timer: NodeJS.Timeout | undefined;
  if (host === undefined) {
    finish(local(503, 'no healthy upstream'));
    return () => {};
  }
  let method = 'GET';
  let path = '/';
  const headers: string[] = [];
  for (const [k, v] of req.headers) {
    if (k === ':method') method = v;
    else if (k === ':path') path = v;
    else if (k === ':authority') headers.push('host', v);
    else if (k[0] !== ':' && !HOP_BY_HOP_REQUEST.has(k) && k !== 'te') headers.push(k, v);
  }
  if (req.body.byteLength > 0) headers.push('content-length', String(req.body.byteLength));
  let controller: UpstreamController | undefined;
  const abort = () => controller?.abort(new Error('http call cancelled'));
  if (req.timeoutMs > 0) {
    timer = setTimeout(() => {
      finish(local(504, 'upstream request timeout'));
      abort();
    }, req.timeoutMs);
    timer.unref?.();
  }
  let status = 0;
  let responseHeaders: Pairs = [];
  const chunks: Buffer[] = [];
  let size = 0;
  const handler: UpstreamHandler = {
    onResponseStart(_controller, statusCode, rawHeaders) {
      status = statusCode;
      responseHeaders = [[':status', String(statusCode)], ...toPairs(rawHeaders)];
    },
    onResponseData(controller, chunk) {
      size += chunk.length;
      if (size > MAX_HTTP_CALL_RESPONSE_BYTES) {
        controller.abort(new Error('http call response too large'));
        finish({ kind: 'reset' });
        return;
      }
      chunks.push(chunk);
    },
    onResponseEnd(_controller, trailers) {
      finish({ kind: 'response', headers: responseHeaders, body: Buffer.concat(chunks), trailers: trailers === null ? [] : toPairs(trailers) });
    },
    onResponseError(_controller, err) {
      if (status !== 0) finish({ kind: 'reset' });
      else finish(local(503, `upstream connect error or disconnect/reset before headers. reset reason: ${reason(err)}`));
    },
  };
  controller = host.pool.dispatch({ path, method, headers, body: req.body.byteLength > 0 ? Buffer.from(req.body) : null }, handler);
  return () => {
    finished = true;
    if (timer !== undefined) clearTimeout(timer);
    abort();
  };
}

function toPairs(flat: readonly string[]): Pairs {
  const out: Pairs = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i].toLowerCase(), flat[i + 1]]);
  return out;
}

function reason(err: Error): string {
  const code = (err as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === UpstreamErrorCode.ConnectTimeout) return 'connection failure';
  return 'connection termination';
}

function local(status: number, body: string): HttpCallOutcome {
  const bytes = Buffer.from(body);
  return {
    kind: 'response',
    headers: [
      [':status', String(status)],
      ['content-length', String(bytes.length)],
      ['content-type', 'text/plain'],
    ],
    body: bytes,
    trailers: [],
  };
}
