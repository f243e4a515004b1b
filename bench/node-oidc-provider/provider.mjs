// node-oidc-provider (npm `oidc-provider`, the OpenID-certified Node provider) configured
// like Gatehouse's load-bench client, to compare the two on the same machine with the same
// load generator (examples/token_load.rs).
//
//   cd bench/node-oidc-provider && npm install        # once; node_modules is git-ignored
//   NODE_ENV=production PORT=3000 node provider.mjs
//   cargo run --release --example token_load -- --url http://127.0.0.1:3000 \
//       --client-id bench --secret "$BENCH_SECRET" --scope api --scenario client_credentials \
//       --token-path /token --introspect-path /token/introspection
//
// Environment:
//   PORT           listening port on 127.0.0.1 (default 3000); the issuer is http://127.0.0.1:PORT
//   BENCH_CLIENT_ID, BENCH_SECRET
//                  the one client (default bench / 32 characters below)
//   ACCESS_TOKEN_FORMAT
//                  "jwt" (default): client_credentials tokens are RS256 JWTs (RFC 9068
//                  at+jwt), signed on every request like Gatehouse's, and never stored.
//                  oidc-provider refuses to introspect JWT ("structured") access tokens, so
//                  the introspect scenario needs "opaque": tokens are random strings kept in
//                  the default in-process memory adapter (an LRU cache), and each
//                  introspection is a lookup there.
//   NODE_WORKERS   1 (default): one process, one JavaScript thread (Node is single-threaded;
//                  signing runs on that thread). N > 1: node:cluster with N workers sharing
//                  the port and the same signing key. With opaque tokens each worker has its
//                  own memory adapter, so a token is only known to the worker that issued it:
//                  use NODE_WORKERS=1 for the introspect scenario.
//
// What is configured, and why:
//   - one RSA-2048 key (RS256), generated at start with crypto.generateKeyPairSync and
//     exported as a JWK: the JWKS at /jwks publishes its public half;
//   - features.clientCredentials and features.introspection enabled, devInteractions off;
//   - one confidential client: client_secret_basic, grant_types ["client_credentials"],
//     no response types or redirect URIs, scope "api";
//   - features.resourceIndicators: without a resource server oidc-provider issues opaque
//     client_credentials tokens. defaultResource returns RESOURCE whenever the client sends
//     no `resource` parameter, and getResourceServerInfo describes that resource server as
//     { scope: "api", audience: RESOURCE, accessTokenTTL: 3600,
//       accessTokenFormat: ACCESS_TOKEN_FORMAT, jwt: { sign: { alg: "RS256" } } }.
//     So a plain `grant_type=client_credentials&scope=api` gets a one-hour RS256 JWT
//     (typ at+jwt) with iss, sub (the client), aud, client_id, scope, jti, iat, exp; what
//     Gatehouse's client_credentials token carries too.
//   - the default in-memory adapter; nothing else is stored for JWT access tokens.
import cluster from 'node:cluster';
import crypto from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 3000);
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.BENCH_CLIENT_ID || 'bench';
const clientSecret = process.env.BENCH_SECRET || 'bench-secret-0123456789abcdefghij';
const accessTokenFormat = process.env.ACCESS_TOKEN_FORMAT || 'jwt';
const workers = Number(process.env.NODE_WORKERS || 1);
const RESOURCE = 'urn:gatehouse-bench:api';

if (!['jwt', 'opaque'].includes(accessTokenFormat)) {
  throw new Error(`ACCESS_TOKEN_FORMAT must be "jwt" or "opaque", not "${accessTokenFormat}"`);
}

function signingJwk() {
  // Every cluster worker must sign with the same key: the primary makes it and hands it on.
  if (process.env.BENCH_SIGNING_JWK) return JSON.parse(process.env.BENCH_SIGNING_JWK);
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
}

function start(jwk) {
  const provider = new Provider(issuer, {
    jwks: { keys: [jwk] },
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'api',
      },
    ],
    scopes: ['api'],
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf || RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          if (resourceIndicator !== RESOURCE) {
            // oidc-provider answers invalid_target for an unknown resource.
            throw new Provider.errors.InvalidTarget();
          }
          return {
            scope: 'api',
            audience: RESOURCE,
            accessTokenTTL: 3600,
            accessTokenFormat,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    ttl: {
      ClientCredentials: () => 3600,
    },
  });
  provider.proxy = false;
  provider.listen(port, '127.0.0.1', () => {
    console.log(
      `oidc-provider ${issuer} pid ${process.pid} NODE_ENV=${process.env.NODE_ENV || ''} `
        + `access tokens: ${accessTokenFormat}`,
    );
  });
}

if (workers > 1 && cluster.isPrimary) {
  process.env.BENCH_SIGNING_JWK = JSON.stringify(signingJwk());
  for (let i = 0; i < workers; i += 1) cluster.fork();
  console.log(`primary ${process.pid}: ${workers} workers`);
} else {
  start(signingJwk());
}
