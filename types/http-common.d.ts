// Node's native HTTP/1 parser (llhttp), as `node:_http_common` exposes it to `node:http`.
// Only what runtime/upstream/h1-pool.ts uses is declared.
declare module '_http_common' {
  export class HTTPParser {
    static readonly REQUEST: 1;
    static readonly RESPONSE: 2;
    static readonly kOnMessageBegin: number;
    static readonly kOnHeaders: number;
    static readonly kOnHeadersComplete: number;
    static readonly kOnBody: number;
    static readonly kOnMessageComplete: number;
    static readonly kOnExecute: number;
    static readonly kLenientNone: number;
    initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
    /** Bytes consumed, or the parse error (with `code` such as `HPE_HEADER_OVERFLOW` and `reason`). */
    execute(data: Buffer): number | (Error & { code?: string; reason?: string; bytesParsed?: number });
    finish(): undefined | (Error & { code?: string; reason?: string });
    close(): void;
    remove(): void;
    free(): void;
    pause(): void;
    resume(): void;
    [slot: number]: unknown;
  }
}
