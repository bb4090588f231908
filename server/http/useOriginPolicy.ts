import type { Plugin } from 'graphql-yoga';
import { httpErrorResponse } from './httpError.js';
import type { OriginPolicy } from './originPolicy.js';

/** Media types a GraphQL POST may have: JSON only, which a page on another origin cannot send without a CORS preflight. */
const GRAPHQL_POST_TYPES = new Set(['application/json', 'application/graphql-response+json']);

export interface OriginPolicyPluginOptions {
  graphqlPath: string;
  /** Paths answered whatever the Host (liveness probes address the pod's IP). */
  exemptPaths?: readonly string[];
}

/**
 * Applies the origin policy (see `originPolicy.ts`) before anything else runs: a refused Host or
 * Origin gets 403, and a GraphQL POST that is not JSON (an HTML form, `text/plain`: what a page on
 * another origin can send without asking) gets 415.
 */
export function useOriginPolicy(policy: OriginPolicy, options: OriginPolicyPluginOptions): Plugin {
  const exempt = new Set(options.exemptPaths ?? []);
  return {
    onRequest({ request, url, fetchAPI, endResponse }) {
      if (exempt.has(url.pathname)) return;
      const host = request.headers.get('host') ?? url.host;
      const refusal = policy.refuseHost(host) ?? policy.refuseOrigin(request.headers.get('origin'), host);
      if (refusal) return endResponse(httpErrorResponse(fetchAPI, 403, 'FORBIDDEN', refusal));
      if (url.pathname === options.graphqlPath && request.method === 'POST') {
        const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
        if (!GRAPHQL_POST_TYPES.has(type)) {
          endResponse(
            httpErrorResponse(fetchAPI, 415, 'UNSUPPORTED_MEDIA_TYPE', `GraphQL POST requests must be sent as application/json; got ${JSON.stringify(type || 'no content-type')}.`),
          );
        }
      }
    },
  };
}
