// panva's openid-client, as the agent: redeems the code of alice's sign-in (checking her ID token as an OpenID
// relying party does), then asks this server, as the enterprise identity provider, for ID-JAGs by token exchange of
// that ID token (RFC 8693, through its genericGrantRequest); panva's jose verifies each against the server's JWK Set
// as the partner authorization server would: typ, signature, iss, aud, exp and the claims it needs.
// argv: issuer client_id client_secret callback_url code_verifier state nonce audience resource count.
// Prints one JSON line per ID-JAG.
import * as client from 'openid-client';
import * as jose from 'jose';

const [issuer, clientId, secret, callback, verifier, state, nonce, audience, resource, count] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, secret, client.ClientSecretBasic(secret), {
  execute: [client.allowInsecureRequests],
});
const signedIn = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
});
const user = signedIn.claims();
const keys = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
for (let i = 0; i < Number(count); i++) {
  const answer = await client.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
    requested_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
    subject_token: signedIn.id_token,
    subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
    audience,
    resource,
    scope: 'tools',
  });
  const { payload, protectedHeader } = await jose.jwtVerify(answer.access_token, keys, {
    issuer,
    audience,
    typ: 'oauth-id-jag+jwt',
    requiredClaims: ['sub', 'client_id', 'jti', 'iat', 'exp'],
  });
  console.log(JSON.stringify({
    user: user.sub,
    issued_token_type: answer.issued_token_type,
    token_type: answer.token_type,
    alg: protectedHeader.alg,
    claims: payload,
  }));
}
