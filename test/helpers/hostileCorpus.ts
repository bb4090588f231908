/**
 * A generated corpus of malformed and hostile requests: every one must be refused with a 4xx or a
 * coded GraphQL error (never a masked 500, never a hang). Built from categories × variants, so a
 * new kind of bad value is tested in every place it can be sent.
 */

/** One HTTP request of the corpus. */
export interface HostileHttpRequest {
  name: string;
  method: 'GET' | 'POST';
  /** Appended to the GraphQL URL (GET query strings). */
  search?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Big or odd but valid: a normal answer is fine, as long as it is not a 500 or a hang. */
  mayAnswer?: boolean;
}

/** One graphql-ws exchange: frames sent after connecting (`init` first unless told otherwise). */
export interface HostileWsExchange {
  name: string;
  /** Send connection_init first (default true). */
  init?: boolean;
  frames: string[];
  /** Operations that must end (error or complete) before the probe; default: every subscribe id sent. */
  expectEnded?: number;
  /** Check afterwards that the connection still answers (default true). */
  probe?: boolean;
  /** Valid: drawing no error is fine, surviving is what counts. */
  mayAnswer?: boolean;
}

/** Documents of the corpus that are big or odd but valid, and cheap to answer. */
const VALID_DOCUMENTS = new Set(['hugeComment', 'introspectionDeep']);

const UUID = '3f2c8a9e-1b7d-4c3e-9a51-6d0e2f4b8c17';

/** Strings Postgres cannot store as they are: refused in every field, free text and JSON included. */
export const UNSTORABLE_STRINGS: Record<string, string> = {
  nul: 'a\u0000b',
  nulOnly: '\u0000',
  loneHighSurrogate: 'x\ud800y',
  loneLowSurrogate: '\udc00',
  reversedPair: '\udc00\ud800',
};

/** Strings no name (tag, queue, function, signal) accepts; free-text fields refuse those that are empty or too long. */
export const BAD_NAMES: Record<string, string> = {
  ...UNSTORABLE_STRINGS,
  newline: 'line\nbreak',
  crlf: 'a\r\nb',
  tab: 'a\tb',
  escape: 'esc\u001b[31m',
  delete: 'del\u007f',
  c1Control: 'c1\u0085',
  empty: '',
  tooLong: 'n'.repeat(201),
  huge: 'h'.repeat(300_000),
};

/** Free-text values (idempotency keys, filters) that are refused. */
const BAD_TEXT: Record<string, string> = { ...UNSTORABLE_STRINGS, empty: '', huge: 'h'.repeat(300_000) };

/** Ids that are not ids. */
export const BAD_IDS = ['', 'x', 'not-a-uuid', `${UUID}x`, `'; DROP TABLE senpuki_tasks; --`, 'a\u0000b', '\ud800', 'u'.repeat(100_000), '00000000-0000-0000-0000-00000000000g'];

/** Subscriptions that take an id. */
const SUBSCRIPTIONS_BY_ID: Record<string, string> = {
  executionUpdated: 'subscription($id: ID!) { executionUpdated(id: $id) { id } }',
  taskUpdated: 'subscription($id: ID!) { taskUpdated(id: $id) { id } }',
  executionTasksUpdated: 'subscription($id: ID!) { executionTasksUpdated(executionId: $id) { id } }',
};

/** JSON that nests deeper than anything accepts. */
const deepArray = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

const json = (query: string, variables?: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ query, variables, ...extra });
const post = (name: string, body: string, headers: Record<string, string> = {}): HostileHttpRequest => ({
  name,
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
  body,
});
const sse = (name: string, body: string): HostileHttpRequest => post(`sse: ${name}`, body, { accept: 'text/event-stream' });

const DISPATCH = 'mutation($input: DispatchInput!) { dispatch(input: $input) { execution { id } } }';
const SIGNAL = 'mutation($id: ID!, $name: String!) { sendSignal(input: { executionId: $id, name: $name, payload: 1 }) { signalId } }';
const EXECUTIONS = 'query($filter: ExecutionFilter, $first: Int) { executions(filter: $filter, first: $first) { nodes { id } } }';

/** Hostile documents: syntax, depth, width, aliases, fragments. */
const hostileDocuments = (functionName: string): Record<string, string> => ({
  syntax: '{ execution(id: ',
  unknownField: '{ executon(id: "x") { id } }',
  deep100: `{ ${'a { '.repeat(100)}b${' }'.repeat(100)} }`,
  deep5000: `{ ${'a { '.repeat(5000)}b${' }'.repeat(5000)} }`,
  deepRealFields: `{ execution(id: "${UUID}") { rootTask { ${'children { '.repeat(40)}id${' }'.repeat(40)} } } }`,
  aliases500: `{ ${Array.from({ length: 500 }, (_, i) => `a${i}: __typename`).join(' ')} }`,
  aliasedExecutions: `{ ${Array.from({ length: 60 }, (_, i) => `e${i}: executions(first: 200) { nodes { id tasks { id } } }`).join(' ')} }`,
  fragmentCycle: 'query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }',
  fragmentSelfCycle: 'query { ...A } fragment A on Query { ...A }',
  fragmentBomb: `query { ...F0 } ${Array.from({ length: 30 }, (_, i) => `fragment F${i} on Query { ${i < 29 ? `...F${i + 1} ` : ''}a${i}: executions(first: 200) { nodes { id } } }`).join(' ')}`,
  directiveFlood: `{ __typename ${'@include(if: true) '.repeat(3000)} }`,
  hugeStringLiteral: `{ execution(id: "${'x'.repeat(1_800_000)}") { id } }`,
  hugeComment: `# ${'c'.repeat(1_800_000)}\n{ __typename }`,
  manyTokens: `{ ${'__typename '.repeat(170_000)} }`,
  deepInlineArgs: `mutation { dispatch(input: { function: "${functionName}", args: ${deepArray(3000)} }) { created } }`,
  deepInlineObject: `mutation { dispatch(input: { function: "${functionName}", args: [${'{ a: '.repeat(3000)}1${' }'.repeat(3000)}] }) { created } }`,
  introspectionDeep: `{ __schema { types { fields { type { ${'ofType { '.repeat(60)}name${' }'.repeat(60)} } } } } }`,
  subscriptionOverPlainPost: `subscription { executionUpdated(id: "${UUID}") { id } }`,
  twoSubscriptionFields: `subscription { a: executionsUpdated { id } b: executionsUpdated { id } }`,
  unknownVariableType: 'query($x: Nope) { __typename }',
  unusedVariable: 'query($x: Int) { __typename }',
  missingVariable: 'query($id: ID!) { execution(id: $id) { id } }',
});

/** Dispatch inputs out of range or of the wrong kind. */
const BAD_DISPATCH_INPUTS: Record<string, Record<string, unknown>> = {
  argsObject: { args: { a: 1 } },
  argsString: { args: 'x' },
  argsNumber: { args: 1 },
  argsDeep65: { args: [JSON.parse(deepArray(65))] },
  argsDeep1000: { args: [JSON.parse(deepArray(1000))] },
  argsDeepObject100: { args: [JSON.parse(deepObject(100))] },
  argsTooLarge: { args: ['y'.repeat(1024 * 1024 + 10)] },
  tags100k: { tags: Array.from({ length: 100_000 }, (_, i) => `t${i}`) },
  tags51: { tags: Array.from({ length: 51 }, (_, i) => `t${i}`) },
  tagsNull: { tags: [null] },
  tagNumber: { tags: [5] },
  priorityHuge: { priority: 2_000_000 },
  priorityFloat: { priority: 1.5 },
  priorityString: { priority: 'high' },
  delayNegative: { delay: '-1s' },
  delayGibberish: { delay: 'soon' },
  delayHuge: { delay: 1e15 },
  delayObject: { delay: { ms: 5 } },
  maxDurationZero: { maxDuration: 0 },
  maxDurationNegative: { maxDuration: -5 },
  maxDurationTenYears: { maxDuration: '11y' },
  idempotencyKeyLong: { idempotencyKey: 'k'.repeat(501) },
  idempotencyKeyNumber: { idempotencyKey: 5 },
  unknownFunction: { function: 'noSuchFunction' },
  unknownInputField: { nope: true },
  functionMissing: { function: null },
};

/** The HTTP part of the corpus (POST, GET and SSE). */
export function hostileHttpRequests(functionName: string): HostileHttpRequest[] {
  const requests: HostileHttpRequest[] = [];
  const dispatch = (name: string, input: Record<string, unknown>) => requests.push(post(`dispatch ${name}`, json(DISPATCH, { input: { function: functionName, args: ['x'], ...input } })));

  // Bad JSON bodies and wrong shapes.
  const bodies: Record<string, string> = {
    truncated: '{"query":',
    notJson: 'query { __typename }',
    number: '42',
    string: '"{ __typename }"',
    null: 'null',
    emptyObject: '{}',
    emptyBody: '',
    bom: '\ufeff{"query":"{ __typename }"}x',
    trailingGarbage: '{"query":"{ __typename }"}}}}',
    batched: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
    queryNumber: JSON.stringify({ query: 42 }),
    queryObject: JSON.stringify({ query: { a: 1 } }),
    queryArray: JSON.stringify({ query: ['{ __typename }'] }),
    queryNull: JSON.stringify({ query: null }),
    variablesString: JSON.stringify({ query: '{ __typename }', variables: 'x' }),
    variablesArray: JSON.stringify({ query: '{ __typename }', variables: [1] }),
    variablesNumber: JSON.stringify({ query: '{ __typename }', variables: 5 }),
    operationNameNumber: JSON.stringify({ query: '{ __typename }', operationName: 5 }),
    operationNameMissing: JSON.stringify({ query: 'query A { __typename } query B { __typename }' }),
    operationNameUnknown: JSON.stringify({ query: 'query A { __typename }', operationName: 'C' }),
    extensionsString: JSON.stringify({ query: '{ __typename }', extensions: 'x' }),
    persistedQueryOnly: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 'abc' } } }),
    deepBodyArray: `{"query":"mutation($a: JSON) { dispatch(input: { function: \\"${functionName}\\", args: $a }) { created } }","variables":{"a":${deepArray(50_000)}}}`,
    deepBodyObject: `{"query":"mutation($a: JSON) { dispatch(input: { function: \\"${functionName}\\", args: [$a] }) { created } }","variables":{"a":${deepObject(50_000)}}}`,
  };
  for (const [name, body] of Object.entries(bodies)) requests.push(post(`body ${name}`, body));
  requests.push({ name: 'body too large', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }', variables: { a: 'x'.repeat(2.5 * 1024 * 1024) } }) });

  // Hostile documents: syntax, depth, width, aliases, fragments.
  const documents = hostileDocuments(functionName);
  for (const [name, query] of Object.entries(documents)) requests.push({ ...post(`document ${name}`, json(query)), mayAnswer: VALID_DOCUMENTS.has(name) });
  for (const [name, query] of Object.entries(documents)) {
    if (query.length < 50_000) {
      requests.push({ name: `GET document ${name}`, method: 'GET', search: `?query=${encodeURIComponent(query)}`, headers: { accept: 'application/json' }, mayAnswer: VALID_DOCUMENTS.has(name) });
    }
  }

  // Credentials that are not: anything presented must be valid, keys configured or not.
  const forged = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`;
  const authorizations: Record<string, string> = {
    bearerOnly: 'Bearer',
    twoTokens: 'Bearer a b',
    basic: 'Basic dXNlcjpwYXNz',
    unknownKey: 'Bearer not-a-key',
    hugeKey: `Bearer ${'k'.repeat(100_000)}`,
    algNone: `Bearer ${forged}`,
    badSignature: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl',
    garbageJwt: 'Bearer a.b.c',
    nonAscii: 'Bearer clé',
  };
  for (const [name, authorization] of Object.entries(authorizations)) requests.push(post(`authorization ${name}`, json('{ __typename }'), { authorization }));

  // Every bad string in every text field of dispatch, signals and filters.
  for (const [name, value] of Object.entries(BAD_NAMES)) {
    dispatch(`tag ${name}`, { tags: [value] });
    dispatch(`queue ${name}`, { queue: value });
    dispatch(`function name ${name}`, { function: value });
    requests.push(post(`signal name ${name}`, json(SIGNAL, { id: UUID, name: value })));
  }
  for (const [name, value] of Object.entries(BAD_TEXT)) {
    dispatch(`idempotency key ${name}`, { idempotencyKey: value });
    for (const field of ['function', 'tag', 'queue']) {
      requests.push(post(`executions filter.${field} ${name}`, json(EXECUTIONS, { filter: { [field]: value } })));
      requests.push(sse(`executions filter.${field} ${name}`, json('subscription($f: ExecutionFilter) { executionsUpdated(filter: $f) { id } }', { f: { [field]: value } })));
    }
    requests.push(post(`dead letters filter ${name}`, json('query($f: DeadLetterFilter) { deadLetters(filter: $f) { totalCount } }', { f: { function: value } })));
  }
  for (const [name, value] of Object.entries(UNSTORABLE_STRINGS)) {
    dispatch(`args string ${name}`, { args: [value] });
    dispatch(`args nested string ${name}`, { args: [{ deep: [{ deeper: value }] }] });
    dispatch(`args key ${name}`, { args: [{ [value]: 1 }] });
    requests.push(post(`signal payload ${name}`, json('mutation($id: ID!, $p: JSON) { sendSignal(input: { executionId: $id, name: "go", payload: $p }) { signalId } }', { id: UUID, p: { v: value } })));
  }
  // Values out of range or of the wrong kind.
  for (const [name, input] of Object.entries(BAD_DISPATCH_INPUTS)) dispatch(name, input);
  requests.push(post('dispatch input missing', json(DISPATCH, {})));
  requests.push(post('dispatch input string', json(DISPATCH, { input: 'x' })));

  // Bad ids everywhere an id goes.
  const byId: Record<string, string> = {
    execution: 'query($id: ID!) { execution(id: $id) { id } }',
    task: 'query($id: ID!) { task(id: $id) { id } }',
    cancel: 'mutation($id: ID!) { cancelExecution(id: $id) { execution { id } } }',
    signal: 'mutation($id: ID!) { sendSignal(input: { executionId: $id, name: "go" }) { signalId } }',
    replay: 'mutation($id: ID!) { replayDeadLetter(id: $id) { execution { id } } }',
    discard: 'mutation($id: ID!) { discardDeadLetter(id: $id) { id } }',
  };
  for (const [field, query] of Object.entries(byId)) {
    for (const [index, id] of BAD_IDS.entries()) requests.push(post(`${field} bad id #${index}`, json(query, { id })));
    requests.push(post(`${field} unknown id`, json(query, { id: UUID })));
  }
  for (const field of ['execution', 'task']) {
    for (const [index, id] of BAD_IDS.slice(0, 8).entries()) {
      requests.push({ name: `GET ${field} bad id #${index}`, method: 'GET', search: `?query=${encodeURIComponent(byId[field]!)}&variables=${encodeURIComponent(JSON.stringify({ id }))}`, headers: { accept: 'application/json' } });
    }
  }
  for (const first of [-1, 0, 100_000, 1.5]) requests.push(post(`executions first ${first}`, json(EXECUTIONS, { first })));
  for (const after of ['garbage', 'eyJ4Ijp9', '\u0000', 'a'.repeat(50_000)]) {
    requests.push(post(`executions after ${after.slice(0, 10)}`, json('query($a: String) { executions(after: $a) { nodes { id } } }', { a: after })));
  }
  requests.push(post('executions createdAfter not a date', json('query { executions(filter: { createdAfter: "yesterday" }) { nodes { id } } }')));
  requests.push(post('executions state unknown', json('query { executions(filter: { state: [EXPLODED] }) { nodes { id } } }')));

  // GET: broken parameters, mutations, oversized URLs.
  const get = (name: string, search: string): HostileHttpRequest => ({ name: `GET ${name}`, method: 'GET', search, headers: { accept: 'application/json' } });
  requests.push(get('variables not JSON', '?query=%7B__typename%7D&variables=%7B'));
  requests.push(get('extensions not JSON', '?query=%7B__typename%7D&extensions=%7Bx'));
  requests.push(get('variables array', '?query=%7B__typename%7D&variables=%5B1%5D'));
  requests.push(get('no query', '?variables=%7B%7D'));
  requests.push(get('mutation', `?query=${encodeURIComponent(`mutation { dispatch(input: { function: "${functionName}" }) { created } }`)}`));
  requests.push(get('syntax error', '?query=%7B%7B%7B'));
  requests.push(get('deep', `?query=${encodeURIComponent(`{ ${'a { '.repeat(3000)}b${' }'.repeat(3000)} }`)}`));

  // SSE: what fails at subscribe time must say so with a 4xx status.
  const SSE_EXECUTION = 'subscription($id: ID!, $since: Int) { executionUpdated(id: $id, since: $since) { id } }';
  requests.push(sse('unknown execution', json(SSE_EXECUTION, { id: UUID })));
  for (const [field, query] of Object.entries(SUBSCRIPTIONS_BY_ID)) {
    for (const [index, id] of BAD_IDS.entries()) requests.push(sse(`${field} bad id #${index}`, json(query, { id })));
  }
  requests.push(sse('since negative', json(SSE_EXECUTION, { id: UUID, since: -5 })));
  requests.push(sse('task unknown', json(`subscription { taskUpdated(id: "${UUID}") { id } }`)));
  requests.push(sse('execution tasks unknown', json(`subscription { executionTasksUpdated(executionId: "${UUID}") { id } }`)));
  requests.push(sse('executions since garbage', json('subscription { executionsUpdated(since: "abc") { id } }')));
  requests.push(sse('executions filter NUL', json('subscription($f: ExecutionFilter) { executionsUpdated(filter: $f) { id } }', { f: { tag: 'a\u0000' } })));
  requests.push(sse('syntax error', json('subscription { ')));
  requests.push(sse('deep', json(`subscription { ${'a { '.repeat(5000)}b${' }'.repeat(5000)} }`)));
  requests.push(sse('validation error', json('subscription { executionUpdated { id } }')));
  return requests;
}

/** The graphql-ws part of the corpus. */
export function hostileWsExchanges(functionName: string): HostileWsExchange[] {
  const subscribe = (id: string, query: string, variables?: unknown) => JSON.stringify({ id, type: 'subscribe', payload: { query, variables } });
  const exchanges: HostileWsExchange[] = [
    ...Object.entries(BAD_DISPATCH_INPUTS).map(([name, input]) => ({
      name: `dispatch ${name}`,
      frames: [subscribe('1', 'mutation($input: DispatchInput!) { dispatch(input: $input) { created } }', { input: { function: functionName, args: ['x'], ...input } })],
    })),
    ...Object.entries(hostileDocuments(functionName)).map(([name, query]) => ({ name: `document ${name}`, frames: [subscribe('1', query)], mayAnswer: VALID_DOCUMENTS.has(name) })),
    { name: 'frame not JSON', frames: ['{not json'] },
    { name: 'frame a number', frames: ['42'] },
    { name: 'frame without type', frames: ['{"id":"1"}'] },
    { name: 'unknown message type', frames: ['{"type":"explode"}'] },
    { name: 'subscribe before init', init: false, frames: [subscribe('1', '{ __typename }')] },
    { name: 'second connection_init', frames: ['{"type":"connection_init"}'] },
    { name: 'subscribe without id', frames: ['{"type":"subscribe","payload":{"query":"{ __typename }"}}'] },
    { name: 'subscribe with payload null', frames: ['{"id":"1","type":"subscribe","payload":null}'] },
    { name: 'subscribe with query number', frames: ['{"id":"1","type":"subscribe","payload":{"query":5}}'] },
    { name: 'duplicate subscription id', frames: [subscribe('1', 'subscription { executionsUpdated { id } }'), subscribe('1', 'subscription { executionsUpdated { id } }')] },
    { name: 'complete unknown id', frames: ['{"id":"nope","type":"complete"}'], mayAnswer: true },
    { name: 'huge frame', frames: [subscribe('1', `{ execution(id: "${'x'.repeat(2.5 * 1024 * 1024)}") { id } }`)] },
    {
      name: 'too many subscriptions',
      frames: Array.from({ length: 110 }, (_, i) => subscribe(String(i), 'subscription { executionsUpdated { id } }')),
      expectEnded: 10,
      probe: false,
    },
    { name: 'ping flood', frames: Array.from({ length: 500 }, () => '{"type":"ping"}'), mayAnswer: true },
  ];
  const queries: Record<string, [string, unknown?]> = {
    syntax: ['subscription { '],
    deep: [`subscription { ${'a { '.repeat(5000)}b${' }'.repeat(5000)} }`],
    aliases: [`{ ${Array.from({ length: 500 }, (_, i) => `a${i}: __typename`).join(' ')} }`],
    unknownExecution: [`subscription { executionUpdated(id: "${UUID}") { id } }`],
    fragmentCycle: ['subscription { ...A } fragment A on Subscription { ...B } fragment B on Subscription { ...A }'],
    manyTokens: [`{ ${'__typename '.repeat(170_000)} }`],
    mutationUnknownFunction: ['mutation { dispatch(input: { function: "nope" }) { created } }'],
    nulFilter: ['subscription($f: ExecutionFilter) { executionsUpdated(filter: $f) { id } }', { f: { function: 'x\u0000' } }],
  };
  for (const [name, [query, variables]] of Object.entries(queries)) exchanges.push({ name: `subscribe ${name}`, frames: [subscribe('1', query, variables)] });
  for (const [field, query] of Object.entries({ ...SUBSCRIPTIONS_BY_ID, execution: 'query($id: ID!) { execution(id: $id) { id } }', task: 'query($id: ID!) { task(id: $id) { id } }' })) {
    for (const [index, id] of BAD_IDS.entries()) exchanges.push({ name: `subscribe ${field} bad id #${index}`, frames: [subscribe('1', query, { id })] });
  }
  for (const [name, value] of Object.entries(BAD_NAMES)) {
    for (const field of ['tags', 'queue']) {
      const input = { function: functionName, args: [], [field]: field === 'tags' ? [value] : value };
      exchanges.push({ name: `dispatch ${field} ${name}`, frames: [subscribe('1', 'mutation($input: DispatchInput!) { dispatch(input: $input) { created } }', { input })] });
    }
  }
  for (const [name, value] of Object.entries(BAD_TEXT)) {
    for (const field of ['function', 'tag', 'queue']) {
      exchanges.push({ name: `subscribe filter.${field} ${name}`, frames: [subscribe('1', 'subscription($f: ExecutionFilter) { executionsUpdated(filter: $f) { id } }', { f: { [field]: value } })] });
    }
  }
  return exchanges;
}
