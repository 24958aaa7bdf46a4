/**
 * gRPC length-prefixed framing for the tests' hand-written gRPC servers (node:http2, no gRPC
 * library). Written independently of runtime/wasm's codec, so a test does not check the client
 * against its own encoder.
 */

/** One uncompressed frame: flag 0, u32 big-endian length, the message. */
export function grpcFrame(message: string | Uint8Array): Buffer {
  const body = Buffer.from(message);
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
}

/** The messages of a buffer of whole frames, as strings; a trailing partial frame is ignored. */
export function grpcMessages(buf: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 5 <= buf.length; ) {
    const len = buf.readUInt32BE(at + 1);
    out.push(buf.subarray(at + 5, at + 5 + len).toString());
    at += 5 + len;
  }
  return out;
}

/** Response headers of a successful gRPC answer. */
export const GRPC_RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' } as const;
