// panva's openid-client gets client_credentials tokens authenticating with a JWT it signs, and introspects each one
// with the same method: private_key_jwt (its P-256 key, a private JWK) or client_secret_jwt (HS256 with its secret).
// argv: issuer client_id method (private_key_jwt | client_secret_jwt) credential (the JWK as JSON, or the secret)
// count. Prints one JSON line per token.
import * as client from 'openid-client';

const [issuer, clientId, method, credential, count] = process.argv.slice(2);
let authentication;
if (method === 'private_key_jwt') {
  const jwk = JSON.parse(credential);
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  authentication = client.PrivateKeyJwt({ key, kid: jwk.kid });
} else {
  authentication = client.ClientSecretJwt(credential);
}
const config = await client.discovery(new URL(issuer), clientId, undefined, authentication, {
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
