// panva's openid-client, as a public client holding a DPoP key (RFC 9449): redeems the code of alice's sign-in
// with a proof, calls the demo's /api/me with the DPoP-bound token, refreshes with a proof and calls /api/me
// again; then shows the new token as a plain Bearer token (which must be refused: it is bound to the key) and
// tries the bound refresh token without a proof (refused too: a public client's refresh token is bound).
// openid-client makes every proof and retries once by itself on use_dpop_nonce.
// argv: issuer client_id callback_url code_verifier state api_url private_jwk dpop_jkt.
// Prints one JSON line per step; each names the HTTP exchanges the step made (its proofs' claims, statuses,
// DPoP-Nonce headers, errors), so the test can tell a nonce retry happened. At the first step that goes otherwise
// than RFC 9449 says it writes every line so far and that step's (with the error) to stderr, and exits 1.
// Named apart from tests/par/judge.mjs: run_judge copies judges by name into the one shared install directory.
import * as client from 'openid-client';

const [issuer, clientId, callback, verifier, state, apiUrl, privateJwk, expectedJkt] = process.argv.slice(2);

const jwk = JSON.parse(privateJwk);
const { kty, crv, x, y } = jwk;
const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
const keyPair = {
  privateKey: await crypto.subtle.importKey('jwk', jwk, algorithm, false, ['sign']),
  publicKey: await crypto.subtle.importKey('jwk', { kty, crv, x, y }, algorithm, true, ['verify']),
};

const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
  algorithm: 'oauth2',
  execute: [client.allowInsecureRequests],
});

// Every HTTP exchange openid-client makes, in order; each step takes those it made.
let exchanges = [];
const claimsOf = (proof) => JSON.parse(Buffer.from(proof.split('.')[1], 'base64url').toString());
config[client.customFetch] = async (url, options) => {
  const headers = new Headers(options?.headers);
  const response = await fetch(url, options);
  const proof = headers.get('dpop');
  const claims = proof ? claimsOf(proof) : null;
  exchanges.push({
    path: new URL(url).pathname,
    method: options?.method ?? 'GET',
    scheme: headers.get('authorization')?.split(' ')[0] ?? null,
    proof: claims && { htm: claims.htm, htu: claims.htu, nonce: claims.nonce ?? null, ath: claims.ath ?? null },
    status: response.status,
    dpop_nonce: response.headers.get('dpop-nonce'),
    www_authenticate: response.headers.get('www-authenticate'),
    body: response.ok ? null : await response.clone().text(),
  });
  return response;
};
const taken = () => {
  const made = exchanges;
  exchanges = [];
  return made;
};

const printed = [];
const report = (line) => {
  const text = JSON.stringify({ ...line, exchanges: taken() });
  printed.push(text);
  console.log(text);
  if (!line.ok) {
    console.error(`openid-client's DPoP judge: step ${line.step} went wrong:\n${printed.join('\n')}`);
    process.exit(1);
  }
};
const failed = (step, err) =>
  report({
    step,
    ok: false,
    status: err?.status ?? null,
    error: err?.error ?? err?.code ?? null,
    message: String(err?.error_description ?? err?.message ?? err),
  });

async function step(name, run) {
  try {
    return await run();
  } catch (err) {
    failed(name, err);
  }
}

async function callApi(name, accessToken) {
  const response = await step(name, () =>
    client.fetchProtectedResource(config, accessToken, new URL(apiUrl), 'GET', undefined, undefined, { DPoP }),
  );
  const body = await response.json();
  report({ step: name, ok: response.status === 200, status: response.status, sub: body.sub ?? null, body });
}

const DPoP = client.getDPoPHandle(config, keyPair);
const jkt = await DPoP.calculateThumbprint();
if (jkt !== expectedJkt) failed('key', new Error(`openid-client's thumbprint ${jkt} is not the dpop_jkt ${expectedJkt}`));

// A token response as a step's line: DPoP-bound tokens expected.
function reportTokens(name, answer, more = {}) {
  report({
    step: name,
    ok: answer.token_type === 'dpop',
    status: 200,
    token_type: answer.token_type,
    scope: answer.scope ?? null,
    refresh_token: Boolean(answer.refresh_token),
    ...more,
  });
}

const tokens = await step('token', () =>
  client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state }, undefined, {
    DPoP,
  }),
);
reportTokens('token', tokens);
await callApi('api', tokens.access_token);

const refreshed = await step('refresh', () => client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP }));
reportTokens('refresh', refreshed, { rotated: refreshed.refresh_token !== tokens.refresh_token });
await callApi('api_after_refresh', refreshed.access_token);

// Whoever finds the token without the key: the same request as a Bearer token, no proof (section 7.2).
const stolen = await fetch(apiUrl, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
report({
  step: 'bearer',
  ok: stolen.status === 401,
  status: stolen.status,
  www_authenticate: stolen.headers.get('www-authenticate'),
  body: await stolen.text(),
});

// The bound refresh token of a public client, without a proof (section 5).
try {
  const unbound = await client.refreshTokenGrant(config, refreshed.refresh_token);
  report({ step: 'refresh_without_dpop', ok: false, status: 200, token_type: unbound.token_type });
} catch (err) {
  report({
    step: 'refresh_without_dpop',
    ok: err?.error === 'invalid_grant',
    status: err?.status ?? null,
    error: err?.error ?? err?.code ?? null,
    message: String(err?.error_description ?? err?.message ?? err),
  });
}
