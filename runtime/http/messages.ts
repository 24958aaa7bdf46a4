import { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpStream } from './http-stream.ts';

/**
 * Node's request/response classes with a pointer to their HttpStream, so that event listeners
 * can be shared module-level functions instead of closures allocated for every request.
 */
export class SluiceRequest extends IncomingMessage {
  stream: HttpStream | undefined = undefined;
}

export class SluiceResponse extends ServerResponse<SluiceRequest> {
  stream: HttpStream | undefined = undefined;
}
