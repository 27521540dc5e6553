// A server-sent events client for tests: opens a stream with a bearer token and collects `{event, data}` as they
// arrive (data parsed as JSON); `read: false` leaves the response paused, as a client that stopped reading.
import { request as httpRequest, type IncomingMessage } from 'node:http';

export interface EventStream<T> {
  events: Array<{ event: string; data: T }>;
  response: IncomingMessage;
  close(): void;
}

export function openEventStream<T = unknown>(url: string, token: string, read = true): Promise<EventStream<T>> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { authorization: `Bearer ${token}` } }, (response) => {
      const stream: EventStream<T> = { events: [], response, close: () => req.destroy() };
      let buffer = '';
      if (read) {
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          buffer += chunk;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event && data) stream.events.push({ event, data: JSON.parse(data) as T });
          }
        });
      } else response.pause();
      resolve(stream);
    });
    req.on('error', reject);
    req.end();
  });
}
