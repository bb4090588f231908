import WebSocket from 'ws';

/** A WebSocket class that records variable `name` of every graphql-ws subscribe message it sends. */
export function recordingWebSocket(name: string) {
  const values: unknown[] = [];
  class RecordingWebSocket extends WebSocket {
    override send(data: unknown, ...rest: unknown[]): void {
      const message = JSON.parse(String(data)) as { type: string; payload?: { variables?: Record<string, unknown> } };
      if (message.type === 'subscribe') values.push(message.payload?.variables?.[name]);
      (super.send as (...args: unknown[]) => void)(data, ...rest);
    }
  }
  return { RecordingWebSocket, values };
}

/** A fetch that records variable `name` of every request whose query mentions `field` (SSE subscriptions). */
export function recordingFetch(field: string, name: string) {
  const values: unknown[] = [];
  const recording: typeof fetch = (input, init) => {
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as { query?: string; variables?: Record<string, unknown> }) : undefined;
    if (body?.query?.includes(field)) values.push(body.variables?.[name]);
    return fetch(input, init);
  };
  return { recording, values };
}
