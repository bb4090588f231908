import type { Plugin } from 'graphql-yoga';
import { httpErrorResponse } from './httpError.js';

/**
 * Refuses request bodies over `maxBytes` with 413 and a GraphQL-shaped error saying the limit:
 * at once when Content-Length says so, otherwise while reading (chunked uploads), so an
 * oversized body is never buffered whole.
 */
export function useRequestSizeLimit(maxBytes: number): Plugin {
  const tooLarge = (fetchAPI: { Response: typeof Response }) =>
    httpErrorResponse(
      fetchAPI,
      413,
      'PAYLOAD_TOO_LARGE',
      `The request body is larger than ${maxBytes} bytes, this server's limit (limits.maxRequestBytes); send less, e.g. a reference instead of the data.`,
    );
  return {
    onRequest({ request, fetchAPI, endResponse }) {
      const length = Number(request.headers.get('content-length') ?? '0');
      if (length > maxBytes) endResponse(tooLarge(fetchAPI));
    },
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      if (!requestParser || request.body === null || request.headers.has('content-length')) return;
      setRequestParser(async (original) => {
        const body = await readAtMost(original.body!, maxBytes);
        if (body === undefined) return tooLarge(fetchAPI);
        return requestParser(new fetchAPI.Request(original.url, { method: original.method, headers: original.headers, body }));
      });
    },
  };
}

/** The stream's text, or undefined (and the stream cancelled) once it passes `maxBytes`. */
async function readAtMost(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<string | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  // GraphQL bodies are text (JSON or form-encoded); multipart uploads are off.
  return Buffer.concat(chunks).toString('utf8');
}
