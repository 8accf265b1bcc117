/**
 * A minimal EventSource for Node tests (Node 20 has fetch but no EventSource): reads the stream with
 * fetch and calls `onmessage` for each `data:` event. Enough for the HTTP transport; comments
 * (heartbeats) and `retry:` are skipped; no reconnect.
 */
import type { EventSourceLike } from '../../src-renderer/transport/http-transport';

/**
 * Makes an EventSource class that sends `headers` (a bearer token or a session cookie) with its request
 * and calls `onOpen` once the server has answered (from then on no event is missed).
 */
export function eventSourceWith(
  headers: Record<string, string>,
  onOpen: () => void = () => undefined,
): new (url: string) => EventSourceLike {
  return class NodeEventSource implements EventSourceLike {
    onmessage: ((event: { readonly data: string }) => void) | null = null;
    private readonly abort = new AbortController();

    constructor(url: string) {
      void this.read(url);
    }

    private async read(url: string): Promise<void> {
      try {
        const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: this.abort.signal });
        if (!response.ok || !response.body) throw new Error(`event stream answered ${response.status}`);
        onOpen();
        const decoder = new TextDecoder();
        let buffer = '';
        for await (const chunk of response.body) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let end;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block
              .split('\n')
              .filter((line) => line.startsWith('data:'))
              .map((line) => line.slice(5).trimStart());
            if (data.length > 0) this.onmessage?.({ data: data.join('\n') });
          }
        }
      } catch (error) {
        if ((error as Error).name !== 'AbortError') throw error;
      }
    }

    close(): void {
      this.abort.abort();
    }
  };
}
