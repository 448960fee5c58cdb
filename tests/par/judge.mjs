// panva's openid-client runs an authorization code flow with PAR against the server under test.
// argv: issuer client_id client_secret redirect_uri. Prints the authorization URL it built (after pushing),
// reads the callback URL the browser landed on from stdin, then prints the token response as JSON.
import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const [issuer, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret), {
  algorithm: 'oauth2',
  execute: [client.allowInsecureRequests],
});
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const url = await client.buildAuthorizationUrlWithPAR(config, {
  redirect_uri: redirectUri,
  scope: 'read',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
});
console.log(JSON.stringify({ authorize: url.href, metadata: config.serverMetadata() }));
const lines = createInterface({ input: process.stdin });
for await (const callback of lines) {
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  console.log(JSON.stringify({ tokens }));
  break;
}
