import type { Plugin } from 'graphql-yoga';
import { SenpukiError } from '../errors.js';
import type { Principal } from '../schema/access.js';
import { requestError } from '../schema/errors.js';
import type { Authenticator } from './authenticator.js';

/**
 * Puts the caller's Principal in the GraphQL context, from the HTTP `Authorization` header.
 * graphql-ws connections authenticate once, at connection_init, and arrive with `principal` set.
 * A missing key (when keys are configured) or an invalid credential fails the whole request with
 * UNAUTHENTICATED (HTTP 401).
 */
export function useAuth(authenticator: Authenticator): Plugin<{ principal?: Principal }> {
  return {
    async onContextBuilding({ context, extendContext }) {
      if (context.principal) return;
      const header = context.request?.headers.get('authorization') ?? undefined;
      try {
        extendContext({ principal: await authenticator.authenticate(header) });
      } catch (error) {
        throw error instanceof SenpukiError ? requestError(error) : error;
      }
    },
  };
}
