import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { gunzipSync } from 'node:zlib';
import { type PromiseHttpLibrary, type RequestContext, ResponseContext } from '@kubernetes/client-node';

/**
 * How client-node's generated API clients reach the API server: node:http(s) with the kept-alive
 * agent the KubeConfig hands out, instead of client-node's node-fetch 2.
 *
 * Why: node-fetch 2 decides a chunked response ended early when, at the response's 'close', its
 * socket still has a 'data' listener. With a kept-alive agent the socket may by then already
 * carry the next request, whose parser listens for data, so a body that arrived whole is thrown
 * away as "Premature close". The API server sends objects over 2 kB chunked, and the portal's
 * image (Node 20.19, a busy event loop) hit it on most requests' first write. Reading the body
 * here, to its 'end', has no such race. Responses are small objects or 500-item pages: buffered.
 */
export const nodeHttpLibrary: PromiseHttpLibrary = {
  send(context: RequestContext): Promise<ResponseContext> {
    return new Promise((resolve, reject) => {
      const url = new URL(context.getUrl());
      const body = context.getBody() as string | Buffer | undefined | null;
      const headers: Record<string, string | number> = { ...context.getHeaders(), 'accept-encoding': 'gzip' };
      if (body != null) headers['content-length'] = Buffer.byteLength(body);
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, { method: context.getHttpMethod().toString(), headers, agent: context.getAgent(), signal: context.getSignal() }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          let data = Buffer.concat(chunks);
          try {
            if (res.headers['content-encoding'] === 'gzip') data = gunzipSync(data);
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          const responseHeaders: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) responseHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
          resolve(new ResponseContext(res.statusCode ?? 0, responseHeaders, { text: async () => data.toString('utf8'), binary: async () => data }));
        });
      });
      req.on('error', reject);
      req.end(body ?? undefined);
    });
  },
};
