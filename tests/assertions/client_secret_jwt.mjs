// panva's openid-client gets client_credentials tokens with client_secret_jwt (HS256 with the client's secret),
// and introspects each one with the same method. argv: issuer client_id client_secret count. One JSON line each.
import * as client from 'openid-client';

const [issuer, clientId, secret, count] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretJwt(secret), {
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
