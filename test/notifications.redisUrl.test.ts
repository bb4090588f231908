import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ValidationError } from '../server/errors.js';
import { parseRedisUrl } from '../server/notifications/redisUrl.js';

describe('parseRedisUrl', () => {
  test('a plain URL names one host and port', () => {
    assert.deepEqual(parseRedisUrl('redis://localhost:6379'), {
      mode: 'single',
      options: { host: 'localhost', port: 6379 },
    });
  });

  test('a URL without a port uses 6379', () => {
    assert.deepEqual(parseRedisUrl('redis://cache.internal'), {
      mode: 'single',
      options: { host: 'cache.internal', port: 6379 },
    });
  });

  test('a password without a user authenticates the default user', () => {
    assert.deepEqual(parseRedisUrl('redis://:s3cret@localhost:6379').options, {
      host: 'localhost',
      port: 6379,
      password: 's3cret',
    });
  });

  test('a user and password authenticate that ACL user and are percent-decoded', () => {
    assert.deepEqual(parseRedisUrl('redis://alice:p%40ss%3Aword@redis.example.com').options, {
      host: 'redis.example.com',
      port: 6379,
      username: 'alice',
      password: 'p@ss:word',
    });
  });

  test('a numeric path selects the database', () => {
    assert.deepEqual(parseRedisUrl('redis://localhost:6379/1').options, { host: 'localhost', port: 6379, db: 1 });
    assert.deepEqual(parseRedisUrl('redis://localhost:6379/0').options, { host: 'localhost', port: 6379 });
  });

  test('rediss turns TLS on and passes TLS options through', () => {
    assert.deepEqual(parseRedisUrl('rediss://localhost:6380').options, { host: 'localhost', port: 6380, tls: {} });
    const ca = '-----BEGIN CERTIFICATE-----';
    assert.deepEqual(parseRedisUrl('rediss://:pw@localhost:6380/2', { tls: { ca, servername: 'redis' } }).options, {
      host: 'localhost',
      port: 6380,
      password: 'pw',
      db: 2,
      tls: { ca, servername: 'redis' },
    });
  });

  test('TLS options turn TLS on even with redis://, as ioredis does', () => {
    assert.deepEqual(parseRedisUrl('redis://localhost', { tls: { rejectUnauthorized: false } }).options, {
      host: 'localhost',
      port: 6379,
      tls: { rejectUnauthorized: false },
    });
  });

  test('an IPv6 host in brackets is accepted', () => {
    assert.deepEqual(parseRedisUrl('redis://[::1]:7000').options, { host: '::1', port: 7000 });
  });

  test('comma-separated hosts describe a cluster, with credentials and TLS for every node', () => {
    assert.deepEqual(parseRedisUrl('redis://node1:6379,node2:6379,node3:6379'), {
      mode: 'cluster',
      nodes: [
        { host: 'node1', port: 6379 },
        { host: 'node2', port: 6379 },
        { host: 'node3', port: 6379 },
      ],
      options: { redisOptions: {} },
    });
    assert.deepEqual(parseRedisUrl('rediss://u:p@node1,node2:7001'), {
      mode: 'cluster',
      nodes: [
        { host: 'node1', port: 6379 },
        { host: 'node2', port: 7001 },
      ],
      options: { redisOptions: { username: 'u', password: 'p', tls: {} } },
    });
  });

  test('a non-numeric path names the Sentinel master', () => {
    assert.deepEqual(parseRedisUrl('redis://sentinel-host:26379/mymaster'), {
      mode: 'sentinel',
      options: { sentinels: [{ host: 'sentinel-host', port: 26379 }], name: 'mymaster' },
    });
  });

  test('Sentinel accepts several sentinels, a default port, master credentials and a database', () => {
    assert.deepEqual(parseRedisUrl('redis://:pw@s1,s2:26380/mymaster/3'), {
      mode: 'sentinel',
      options: {
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26380 },
        ],
        name: 'mymaster',
        password: 'pw',
        db: 3,
      },
    });
  });

  test('rediss with Sentinel uses TLS to the sentinels and to the master', () => {
    assert.deepEqual(parseRedisUrl('rediss://sentinel-host/mymaster').options, {
      sentinels: [{ host: 'sentinel-host', port: 26379 }],
      name: 'mymaster',
      tls: {},
      sentinelTLS: {},
      enableTLSForSentinelMode: true,
    });
  });

  const invalid: Array<[string, RegExp]> = [
    ['localhost:6379', /scheme must be redis:\/\/ or rediss:\/\//],
    ['http://localhost:6379', /scheme must be redis:\/\/ or rediss:\/\//],
    ['redis://', /a host is missing/],
    ['redis://localhost:99999', /port 99999 is out of range/],
    ['redis://localhost:0', /port 0 is out of range/],
    ['redis://local host', /is not a host\[:port\]/],
    ['redis://node1:6379,,node2', /a host is missing/],
    ['redis://localhost/1/2', /the path may only be/],
    ['redis://localhost/mymaster/x', /the database "x" is not a number/],
    ['redis://node1,node2/3', /Redis Cluster has only database 0/],
    ['redis://localhost?db=1', /query strings and fragments are not supported/],
    ['redis://user@localhost', /credentials need a password/],
    ['redis://:%zz@localhost', /password has a bad percent-encoding/],
  ];
  for (const [url, why] of invalid) {
    test(`${JSON.stringify(url)} is rejected with a ValidationError that shows the accepted forms`, () => {
      assert.throws(
        () => parseRedisUrl(url),
        (error: unknown) => {
          assert.ok(error instanceof ValidationError);
          assert.equal(error.code, 'BAD_USER_INPUT');
          assert.match(error.message, why);
          assert.match(error.message, /Expected redis\[s\]:\/\/\[\[username:\]password@\]host\[:port\]\[\/db\]/);
          return true;
        },
      );
    });
  }

  test('error messages never show the password', () => {
    assert.throws(() => parseRedisUrl('redis://alice:hunter2@localhost:99999'), (error: Error) => {
      assert.doesNotMatch(error.message, /hunter2/);
      assert.match(error.message, /alice:\*\*\*@/);
      return true;
    });
  });
});
