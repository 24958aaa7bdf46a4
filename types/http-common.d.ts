// Node's native HTTP/1 parser (llhttp), as `node:_http_common` exposes it to `node:http`.
// Only what runtime/upstream/h1-pool.ts and runtime/http/h1-codec.ts use is declared.
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
  /** Method names by llhttp's method number (what kOnHeadersComplete passes). */
  export const methods: readonly string[];
  /** True when the value has a character HTTP/1.1 cannot carry in a header value. */
  export function _checkInvalidHeaderChar(value: string): boolean;
  /** True when the name is an HTTP token. */
  export function _checkIsHttpToken(name: string): boolean;
}
