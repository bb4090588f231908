/** Returns the bearer credential to send now (an API key or a read token), or nothing. */
export type TokenSource = () => string | null | undefined | Promise<string | null | undefined>;

/** The credential getter of a client: `getToken` when given (called every time), else the fixed `token`. */
export function tokenSource(options: { token?: string; getToken?: TokenSource }): () => Promise<string | undefined> {
  return async () => {
    const token = options.getToken ? await options.getToken() : options.token;
    return token ? token : undefined;
  };
}

/** `Bearer <token>`, accepting a token that already says "Bearer". */
export function bearer(token: string): string {
  return /^Bearer\s/i.test(token) ? token : `Bearer ${token}`;
}

/**
 * A fetch that sets `Authorization` from the token source on every request, so queries,
 * mutations and SSE subscriptions always carry the freshest token.
 */
export function authorizedFetch(baseFetch: typeof fetch, getToken: () => Promise<string | undefined>): typeof fetch {
  return async (input, init) => {
    const token = await getToken();
    if (!token) return baseFetch(input, init);
    const headers = new Headers(init?.headers);
    headers.set('authorization', bearer(token));
    return baseFetch(input, { ...init, headers });
  };
}
