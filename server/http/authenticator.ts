import { createHash, timingSafeEqual } from 'node:crypto';
import { SenpukiError } from '../errors.js';
import type { Principal } from '../schema/access.js';
import type { ReadTokens } from './readTokens.js';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Turns a credential (an `Authorization` value, from HTTP or graphql-ws connectionParams) into a Principal. */
export class Authenticator {
  private readonly keyDigests: Buffer[];

  constructor(
    apiKeys: readonly string[],
    private readonly tokens: ReadTokens,
  ) {
    this.keyDigests = apiKeys.map(digest);
  }

  /** Whether API keys are required (otherwise access is open). */
  get keysConfigured(): boolean {
    return this.keyDigests.length > 0;
  }

  /**
   * `Bearer <API key>` → apiKey; `Bearer <read token>` → executionToken; nothing → open when no
   * keys are configured. Anything presented must be valid, keys configured or not.
   */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (authorization === undefined || authorization.trim() === '') {
      if (!this.keysConfigured) return { kind: 'open' };
      throw new SenpukiError(
        'UNAUTHENTICATED',
        'This server needs an API key: send the header "Authorization: Bearer <key>" (graphql-ws: connectionParams { authorization: "Bearer <key>" })',
      );
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
    if (!match) throw new SenpukiError('UNAUTHENTICATED', 'Authorization must look like "Bearer <API key or read token>"');
    const credential = match[1]!;
    if (this.isApiKey(credential)) return { kind: 'apiKey' };
    if (JWT_SHAPE.test(credential)) return this.tokens.verify(credential);
    throw new SenpukiError('UNAUTHENTICATED', 'Unknown API key');
  }

  private isApiKey(credential: string): boolean {
    const candidate = digest(credential);
    // Compare against every key in constant time, so timing tells nothing about which one is close.
    let found = false;
    for (const key of this.keyDigests) found = timingSafeEqual(key, candidate) || found;
    return found;
  }
}

/** The credential in graphql-ws connectionParams: `authorization` (or `Authorization`), with or without "Bearer ". */
export function authorizationFromConnectionParams(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const value = params?.authorization ?? params?.Authorization;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  return /^Bearer\s/i.test(value.trim()) ? value : `Bearer ${value.trim()}`;
}
