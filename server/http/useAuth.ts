import type { Plugin } from 'graphql-yoga';
import { SenpukiError } from '../errors.js';
import type { Principal } from '../schema/access.js';
import { requestError } from '../schema/errors.js';
import type { Authenticator } from './authenticator.js';
import { httpErrorResponse } from './httpError.js';

/**
 * Authenticates GraphQL requests from the HTTP `Authorization` header as they arrive, before
 * the body is read or the query parsed: a request without a valid credential costs nothing
 * and learns nothing about the schema (HTTP 401). The Principal goes into the GraphQL context.
 * graphql-ws connections authenticate once, at connection_init, and arrive with `principal` set.
 */
export function useAuth(authenticator: Authenticator, graphqlPath: string): Plugin<{ principal?: Principal }> {
  const principals = new WeakMap<Request, Principal>();
  const authenticate = (request: Request) => authenticator.authenticate(request.headers.get('authorization') ?? undefined);
  return {
    async onRequest({ request, url, fetchAPI, endResponse }) {
      if (url.pathname !== graphqlPath || request.method === 'OPTIONS' || isGraphiQLPage(request, url)) return;
      try {
        principals.set(request, await authenticate(request));
      } catch (error) {
        if (!(error instanceof SenpukiError)) throw error;
        endResponse(httpErrorResponse(fetchAPI, 401, error.code, error.message, { 'www-authenticate': 'Bearer' }));
      }
    },
    async onContextBuilding({ context, extendContext }) {
      if (context.principal) return;
      // Requests that did not pass through onRequest above (a plugin that rewrote the request).
      try {
        extendContext({ principal: principals.get(context.request) ?? (await authenticate(context.request)) });
      } catch (error) {
        throw error instanceof SenpukiError ? requestError(error) : error;
      }
    },
  };
}

/** The GraphiQL page itself (a browser's GET without an operation): static HTML, no credential needed. */
function isGraphiQLPage(request: Request, url: URL): boolean {
  return request.method === 'GET' && !url.searchParams.has('query') && (request.headers.get('accept') ?? '').includes('text/html');
}
