import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SenpukiClientError, type Execution } from '../client/index.js';
import { waitFor } from './helpers/conditions.js';
import { startSdkServer, type SdkServer } from './helpers/sdkServer.js';

const API_KEY = 'test-api-key-for-the-sdk-auth-suite';

describe('SDK credentials', () => {
  let sdk: SdkServer;
  before(async () => {
    // Read tokens live 1-2 s (JWT expiry has second precision), so they expire mid-test.
    sdk = await startSdkServer({ apiKeys: [API_KEY], tokenTtlMs: 2000 });
  });
  after(async () => {
    await sdk.close();
  });

  for (const transport of ['ws', 'sse'] as const) {
    it(`getToken swaps an expiring read token and the subscription goes on to the end (${transport})`, async () => {
      const backEnd = sdk.client({ token: API_KEY });
      const key = `refresh-${transport}`;
      const { executionId } = await backEnd.dispatch('gated', [key], { idempotencyKey: key });
      let calls = 0;
      // What a browser's token endpoint would do: the same dispatch (idempotent) returns a fresh token.
      const browser = sdk.client({
        transport,
        getToken: async () => {
          calls++;
          return (await backEnd.dispatch('gated', [key], { idempotencyKey: key })).token;
        },
      });
      const seen: Execution[] = [];
      let refreshed: Promise<unknown> | undefined;
      for await (const update of browser.executionUpdates(executionId)) {
        seen.push(update);
        // The execution runs on until the token in use expired and getToken was asked again.
        const callsNow = calls;
        refreshed ??= waitFor(() => calls > callsNow, { timeoutMs: 15_000, message: 'a token refresh' }).finally(() => sdk.gates.open(key));
      }
      await refreshed;
      assert.equal(seen.at(-1)!.state, 'COMPLETED');
      assert.ok(seen.length >= 2);
    });
  }

  it('without getToken, an expired read token ends the iterator with UNAUTHENTICATED', async () => {
    const backEnd = sdk.client({ token: API_KEY });
    const { executionId, token } = await backEnd.dispatch('gated', ['expires']);
    const browser = sdk.client({ token });
    await assert.rejects(
      (async () => {
        for await (const _ of browser.executionUpdates(executionId));
      })(),
      (error: unknown) => error instanceof SenpukiClientError && error.kind === 'graphql' && error.code === 'UNAUTHENTICATED',
    );
    sdk.gates.open('expires');
  });

  it('a read token cannot dispatch: FORBIDDEN, with a GraphQL error kind', async () => {
    const backEnd = sdk.client({ token: API_KEY });
    const { token } = await backEnd.dispatch('echo', [1]);
    await assert.rejects(sdk.client({ token }).dispatch('echo', [2]), (error: unknown) => error instanceof SenpukiClientError && error.code === 'FORBIDDEN');
  });

  it('a socket refused for a bad credential ends live iterators with code UNAUTHENTICATED, without a retry loop', async () => {
    const client = sdk.client({ token: 'not-a-key' });
    await assert.rejects(
      (async () => {
        for await (const _ of client.executionUpdates('7d444840-9dc0-11d1-b245-5ffdce74fad2'));
      })(),
      (error: unknown) => error instanceof SenpukiClientError && error.kind === 'network' && error.code === 'UNAUTHENTICATED',
    );
  });
});
