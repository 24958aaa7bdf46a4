import net from 'node:net';
import { once } from 'node:events';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One HTTP/1.1 keep-alive connection driven by hand: requests go out one at a time on the same
 * socket, so a test can prove that a connection survived something (a config reload, a module
 * swap) by using it before and after. Understands content-length and chunked responses.
 */
export class KeepAliveClient {
  readonly #sock: net.Socket;
  #buf = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #closed = false;

  private constructor(sock: net.Socket) {
    this.#sock = sock;
    sock.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake?.();
    });
    sock.on('close', () => {
      this.#closed = true;
      this.#wake?.();
    });
    sock.on('error', () => undefined);
  }

  static async connect(port: number): Promise<KeepAliveClient> {
    const sock = net.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    sock.setNoDelay(true);
    return new KeepAliveClient(sock);
  }

  /** The socket was closed (by either side). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Local port: a different one means a different connection. */
  get localPort(): number {
    return this.#sock.localPort ?? 0;
  }

  async get(path: string, host = 'example.com', timeoutMs = 10_000): Promise<RawResponse> {
    if (this.#closed) throw new Error('connection closed');
    this.#sock.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.#parse();
      if (r !== undefined) return r;
      if (this.#closed) throw new Error(`connection closed before a complete response to ${path}`);
      if (Date.now() > deadline) throw new Error(`no response to ${path} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }

  /** One complete response off the front of the buffer, or undefined if it has not all arrived. */
  #parse(): RawResponse | undefined {
    const end = this.#buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const lines = this.#buf.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    let at = end + 4;
    let body: Buffer;
    if (headers['transfer-encoding']?.includes('chunked')) {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = this.#buf.indexOf('\r\n', at);
        if (lineEnd < 0) return undefined;
        const size = Number.parseInt(this.#buf.subarray(at, lineEnd).toString('latin1'), 16);
        if (this.#buf.length < lineEnd + 2 + size + 2) return undefined;
        parts.push(this.#buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(parts);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (this.#buf.length < at + length) return undefined;
      body = this.#buf.subarray(at, at + length);
      at += length;
    }
    this.#buf = this.#buf.subarray(at);
    return { status, headers, body: body.toString('utf8') };
  }

  close(): void {
    this.#sock.destroy();
  }
}
