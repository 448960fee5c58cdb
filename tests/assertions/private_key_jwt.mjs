// panva's openid-client gets client_credentials tokens with private_key_jwt, and introspects each one with the
// same method. argv: issuer client_id private_jwk (JSON, P-256) count. Prints one JSON line per token.
import * as client from 'openid-client';

const [issuer, clientId, jwkJson, count] = process.argv.slice(2);
const jwk = JSON.parse(jwkJson);
const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const config = await client.discovery(new URL(issuer), clientId, undefined, client.PrivateKeyJwt({ key, kid: jwk.kid }), {
  algorithm: 'oauth2',
  execute: [client.allowInsecureRequests],
});
for (let i = 0; i < Number(count); i++) {
  const tokens = await client.clientCredentialsGrant(config, { scope: 'read' });
  const seen = await client.tokenIntrospection(config, tokens.access_token);
  console.log(JSON.stringify({
    token_type: tokens.token_type,
    scope: tokens.scope,
    active: seen.active,
    client_id: seen.client_id,
  }));
}
