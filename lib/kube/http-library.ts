import { type PromiseHttpLibrary, type RequestContext, ResponseContext } from '@kubernetes/client-node';
import { sendBuffered } from '../io/send-buffered';

/**
 * How client-node's generated API clients reach the API server: node:http(s) with the kept-alive
 * agent the KubeConfig hands out, instead of client-node's node-fetch 2.
 *
 * Why: node-fetch 2 decides a chunked response ended early when, at the response's 'close', its
 * socket still has a 'data' listener. With a kept-alive agent the socket may by then already
 * carry the next request, whose parser listens for data, so a body that arrived whole is thrown
 * away as "Premature close". The API server sends objects over 2 kB chunked, and the portal's
 * image (Node 20.19, a busy event loop) hit it on most requests' first write. Reading the body
 * to its 'end' (lib/io/send-buffered.ts, which raw.ts sends through too) has no such race.
 */
export const nodeHttpLibrary: PromiseHttpLibrary = {
  async send(context: RequestContext): Promise<ResponseContext> {
    const body = context.getBody() as string | Buffer | undefined | null;
    const res = await sendBuffered(new URL(context.getUrl()), { method: context.getHttpMethod().toString(), headers: context.getHeaders(), agent: context.getAgent(), signal: context.getSignal() }, body ?? undefined);
    return new ResponseContext(res.status, res.headers, { text: async () => res.body.toString('utf8'), binary: async () => res.body });
  },
};
