import { randomBytes } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { SenpukiError, ValidationError } from '../errors.js';
import type { Principal } from '../schema/access.js';
import type { ReadTokenIssuer } from '../schema/builder.js';

const ISSUER = 'senpuki';
const AUDIENCE = 'senpuki:execution:read';
const MIN_SECRET_BYTES = 32;

export interface ReadTokensOptions {
  /** HS256 secret, at least 32 bytes. Default: random, so tokens only work on this process. */
  secret?: string;
  ttlMs: number;
}

/**
 * The short-lived read tokens `dispatch` hands out: HS256 JWTs whose subject is one execution
 * id. They let a browser read and subscribe to that execution without holding an API key.
 */
export class ReadTokens implements ReadTokenIssuer {
  private readonly key: Uint8Array;
  private readonly ttlMs: number;

  constructor(options: ReadTokensOptions) {
    if (options.secret !== undefined && Buffer.byteLength(options.secret) < MIN_SECRET_BYTES) {
      throw new ValidationError(`tokenSecret must be at least ${MIN_SECRET_BYTES} bytes; generate one with: openssl rand -base64 48`);
    }
    if (!Number.isInteger(options.ttlMs) || options.ttlMs < 1000) {
      throw new ValidationError(`tokenTtlMs must be an integer of at least 1000; got ${options.ttlMs}`);
    }
    this.key = options.secret === undefined ? new Uint8Array(randomBytes(32)) : new TextEncoder().encode(options.secret);
    this.ttlMs = options.ttlMs;
  }

  async issue(executionId: string): Promise<{ token: string; expiresAt: Date }> {
    // JWT expiry has second precision; report the exact instant the token stops working.
    const expSeconds = Math.floor((Date.now() + this.ttlMs) / 1000);
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(executionId)
      .setIssuedAt()
      .setExpirationTime(expSeconds)
      .sign(this.key);
    return { token, expiresAt: new Date(expSeconds * 1000) };
  }

  /** The principal of a valid token; UNAUTHENTICATED with the reason otherwise. */
  async verify(token: string): Promise<Extract<Principal, { kind: 'executionToken' }>> {
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') throw new Error('token without subject or expiry');
      return { kind: 'executionToken', executionId: payload.sub, expiresAt: new Date(payload.exp * 1000) };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        const exp = (error.payload as { exp?: number }).exp;
        throw new SenpukiError(
          'UNAUTHENTICATED',
          `The read token expired${exp ? ` at ${new Date(exp * 1000).toISOString()}` : ''}; dispatch again or ask your back end for a fresh token`,
        );
      }
      throw new SenpukiError('UNAUTHENTICATED', 'The bearer token is not valid here: send an API key or a token returned by dispatch on a server sharing its tokenSecret');
    }
  }
}
