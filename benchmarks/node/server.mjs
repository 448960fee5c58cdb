// Peer: node-oidc-provider on Node 22, storing its tokens in the benchmark's Redis.
//
// Started by benchmarks/oidc_provider.py as `node server.mjs` with the benchmark's BENCH_* variables and PORT.
// One process (Node runs JavaScript on one thread: the counterpart of one uvicorn worker), the benchmark
// client registered statically with client_secret_basic, the client_credentials grant and introspection
// (RFC 7662) enabled, opaque access tokens living as long as ours (ACCESS_LIFETIME), and the Redis adapter
// below. It serves no protected route: node-oidc-provider has no resource-server component.

import Redis from 'ioredis';
import Provider from 'oidc-provider';

const env = process.env;
const port = Number(env.PORT);
const prefix = `${env.BENCH_PREFIX ?? ''}oidc-provider:`;
const accessLifetime = Number(env.BENCH_ACCESS_LIFETIME ?? 3600);
// Auto-pipelining: commands issued in the same event-loop turn go out in one write, as our store does.
const redis = new Redis(env.BENCH_REDIS_URL, { enableAutoPipelining: true, lazyConnect: false });

// Models whose records may carry a grantId, so revokeByGrantId can find them.
const grantable = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);

// KEYS[1] the record   ARGV[1] consumed-at (epoch seconds)   returns 1 if the record existed
const CONSUME = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
record.consumed = tonumber(ARGV[1])
redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
return 1
`;
redis.defineCommand('consumeRecord', { numberOfKeys: 1, lua: CONSUME });

// The adapter interface of node-oidc-provider (one instance per model): records are JSON strings under
// <prefix><model>:<id> with the TTL the provider asks for; grant ids, session uids and user codes are
// secondary keys naming them.
class RedisAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${prefix}${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const multi = redis.multi();
    if (expiresIn) {
      multi.set(key, JSON.stringify(payload), 'EX', expiresIn);
    } else {
      multi.set(key, JSON.stringify(payload));
    }
    if (grantable.has(this.model) && payload.grantId) {
      const grant = `${prefix}grant:${payload.grantId}`;
      multi.rpush(grant, key);
      if (expiresIn) multi.expire(grant, expiresIn, 'NX').expire(grant, expiresIn, 'GT');
    }
    if (payload.userCode) {
      multi.set(`${prefix}userCode:${payload.userCode}`, id, ...(expiresIn ? ['EX', expiresIn] : []));
    }
    if (payload.uid) {
      multi.set(`${prefix}uid:${payload.uid}`, id, ...(expiresIn ? ['EX', expiresIn] : []));
    }
    await multi.exec();
  }

  async find(id) {
    const raw = await redis.get(this.key(id));
    return raw ? JSON.parse(raw) : undefined;
  }

  async findByUid(uid) {
    const id = await redis.get(`${prefix}uid:${uid}`);
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode) {
    const id = await redis.get(`${prefix}userCode:${userCode}`);
    return id ? this.find(id) : undefined;
  }

  async consume(id) {
    await redis.consumeRecord(this.key(id), Math.floor(Date.now() / 1000));
  }

  async destroy(id) {
    await redis.del(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const grant = `${prefix}grant:${grantId}`;
    const keys = await redis.lrange(grant, 0, -1);
    await redis.del(...keys, grant);
  }
}

const provider = new Provider(`http://127.0.0.1:${port}`, {
  adapter: RedisAdapter,
  clients: [
    {
      client_id: env.BENCH_CLIENT_ID,
      client_secret: env.BENCH_CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'read write',
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  scopes: ['read', 'write'],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
  },
  ttl: { ClientCredentials: accessLifetime },
  cookies: { keys: [`${env.BENCH_CLIENT_SECRET}-cookies`] },
});

provider.on('server_error', (ctx, error) => {
  console.error('server_error', error);
});

provider.listen(port, '127.0.0.1', () => {
  console.error(`node-oidc-provider listening on http://127.0.0.1:${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    redis.disconnect();
    process.exit(0);
  });
}
