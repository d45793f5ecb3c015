// A relying party built on npm `openid-client` (panva, OpenID certified) driving Gatehouse's
// OpenID Provider end to end: discovery, code + PKCE (S256) with state and nonce, the login page
// filled over plain HTTP like a browser, code exchange (ID token checked by the library: JWKS
// signature, iss, aud, nonce), userinfo, refresh rotation, introspection, revocation, RP-initiated
// logout and prompt=none afterwards; then the refusals, each with its RFC error code and nothing
// issued.
//
// Input (environment):
//   RP_ISSUER          issuer URL (required)           RP_CLIENT_ID / RP_CLIENT_SECRET (required)
//   RP_REDIRECT_URI    registered redirect URI (never followed: it may be a dead address)
//   RP_POST_LOGOUT_REDIRECT_URI  registered post-logout redirect URI
//   RP_USERNAME / RP_PASSWORD    a user of the realm
//   RP_SCOPE           default "openid profile email offline_access"
//   RP_SHORT_ISSUER    optional: a realm with authorization_code_s = 2 holding the same client and
//                      user (expired-code case; skipped without it)
//   RP_PUBLIC_CLIENT_ID, RP_SERVICE_CLIENT_ID / RP_SERVICE_CLIENT_SECRET,
//   RP_PASSWORD_CLIENT_ID / RP_PASSWORD_CLIENT_SECRET   optional extra clients (their cases are
//                      skipped without them)
//   RP_CASES           "all" (default) or a comma-separated list of case names
// Output: one JSON object on stdout ({ok, flow, cases, failures}); exit 1 when anything failed.
import * as client from 'openid-client';
import { readFileSync } from 'node:fs';
import { Browser, pageText, postForms } from './browser.mjs';

const env = process.env;
function need(name) {
  const v = env[name];
  if (!v) {
    console.error(`openid_client_flow: ${name} is required`);
    process.exit(2);
  }
  return v;
}
const ISSUER = need('RP_ISSUER');
const CLIENT_ID = need('RP_CLIENT_ID');
const CLIENT_SECRET = need('RP_CLIENT_SECRET');
const REDIRECT_URI = env.RP_REDIRECT_URI || 'http://127.0.0.1:9/callback';
const POST_LOGOUT = env.RP_POST_LOGOUT_REDIRECT_URI || 'http://127.0.0.1:9/logged-out';
const USERNAME = need('RP_USERNAME');
const PASSWORD = need('RP_PASSWORD');
const SCOPE = env.RP_SCOPE || 'openid profile email offline_access';
const WANTED = (env.RP_CASES || 'all').split(',').map((s) => s.trim()).filter(Boolean);
const VERSION = JSON.parse(readFileSync(new URL('./node_modules/openid-client/package.json', import.meta.url))).version;

const result = { library: 'openid-client', version: VERSION, issuer: ISSUER, ok: false, flow: {}, cases: {}, failures: [] };

class Failure extends Error {}
function check(cond, message) {
  if (!cond) throw new Failure(message);
}

// ---------------------------------------------------------------- the "browser"

// The form a person would fill on a page: among its POST forms, the one asking for `username` or
// `password` (a login step may have a second form, e.g. "Not you?"), else the only one.
function parseForm(html) {
  const forms = postForms(html);
  const login = forms.filter((f) => f.inputs.some((i) => i.name === 'username' || i.name === 'password'));
  const form = login.length === 1 ? login[0] : login.length === 0 && forms.length === 1 ? forms[0] : null;
  return form && { action: form.attrs.action, inputs: form.inputs };
}

// Drives the browser from `start` until a redirect to `stopAt` (returned, never followed): follows
// redirects within the issuer, and on each HTML page submits its one form with the hidden inputs
// and `username` or `password` filled in.
async function drive(browser, start, stopAt, { username = USERNAME, password = PASSWORD } = {}) {
  const origin = new URL(ISSUER).origin;
  const trace = [];
  let url = new URL(start);
  let init = { method: 'GET' };
  let passwordsSent = 0;
  for (let step = 0; step < 12; step++) {
    const res = await browser.request(url, init);
    trace.push(`${init.method} ${url.pathname} -> ${res.status}`);
    if ([301, 302, 303, 307, 308].includes(res.status)) {
      const location = res.headers.get('location');
      check(location, `redirect without Location at ${url.pathname}`);
      const next = new URL(location, url);
      if (next.href.startsWith(stopAt)) return { location: next, trace };
      check(next.origin === origin, `redirect out of the issuer to ${next.href} (${trace.join(', ')})`);
      url = next;
      init = { method: 'GET' };
      continue;
    }
    const body = await res.text();
    check(res.status === 200, `HTTP ${res.status} at ${url.pathname}: ${pageText(body)} (${trace.join(', ')})`);
    const form = parseForm(body);
    check(form, `no single POST form on ${url.pathname}: ${pageText(body)} (${trace.join(', ')})`);
    const fields = new URLSearchParams();
    let filled = false;
    for (const input of form.inputs) {
      if (!input.name) continue;
      const type = (input.type || 'text').toLowerCase();
      if (input.name === 'username') {
        fields.set('username', username);
        filled = true;
      } else if (input.name === 'password') {
        check(passwordsSent === 0, `login refused: ${pageText(body)}`);
        fields.set('password', password);
        passwordsSent++;
        filled = true;
      } else if (type === 'hidden' || type === 'submit') {
        if (input.value !== undefined) fields.set(input.name, input.value);
      }
    }
    // A page without username/password (a logout confirmation, say) is submitted as it is.
    void filled;
    url = new URL(form.action || url.href, url);
    check(url.origin === origin, `form posts out of the issuer to ${url.href}`);
    init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields.toString() };
  }
  throw new Failure(`no redirect to ${stopAt} after 12 steps (${trace.join(', ')})`);
}

// ---------------------------------------------------------------- helpers

async function configFor(issuer, clientId, secret, auth) {
  const cfg = await client.discovery(new URL(issuer), clientId, secret ? { client_secret: secret } : undefined,
    auth, { execute: [client.allowInsecureRequests] });
  // ID tokens from the token endpoint: verify the JWS signature against the JWKS too.
  client.enableNonRepudiationChecks(cfg);
  return cfg;
}

async function authorizeUrl(cfg, extra = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const checks = { pkceCodeVerifier: verifier, expectedNonce: client.randomNonce(), expectedState: client.randomState() };
  const url = client.buildAuthorizationUrl(cfg, {
    redirect_uri: REDIRECT_URI, scope: SCOPE, state: checks.expectedState, nonce: checks.expectedNonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
  });
  return { url, checks };
}

// Authorize (logging in when the browser has no session) and return the callback URL with the code.
async function codeFor(browser, cfg, extra = {}) {
  const { url, checks } = await authorizeUrl(cfg, extra);
  const { location } = await drive(browser, url, REDIRECT_URI);
  check(location.searchParams.get('code'), `no code in ${location.href}`);
  check(location.searchParams.get('state') === checks.expectedState, `state not returned in ${location.href}`);
  return { callback: location, checks };
}

const TOKEN_FIELDS = ['access_token', 'id_token', 'refresh_token'];

// What an OAuth error thrown by the library says: status, error code, the body.
async function errorInfo(e) {
  if (e instanceof client.ResponseBodyError) return { status: e.status, error: e.error, body: e.cause };
  if (e instanceof client.WWWAuthenticateChallengeError) {
    let body = null;
    try {
      body = await e.response.json();
    } catch {
      body = null;
    }
    const challenge = e.cause?.[0];
    return { status: e.status, error: body?.error ?? challenge?.parameters?.error, body, challenge: challenge?.scheme };
  }
  if (e instanceof client.AuthorizationResponseError) return { status: null, error: e.error, body: Object.fromEntries(e.cause) };
  return { status: null, error: null, message: `${e.name}: ${e.message}${e.code ? ` (${e.code})` : ''}`, cause: e.cause?.error ?? e.cause?.message };
}

// Runs `fn`, which must be refused with `expected` (and `status` when given) and issue nothing.
async function refused(fn, expected, status) {
  let value;
  try {
    value = await fn();
  } catch (e) {
    if (e instanceof Failure) throw e;
    const info = await errorInfo(e);
    check(info.error === expected, `expected ${expected}${status ? ` (HTTP ${status})` : ''}, got ${JSON.stringify(info)}`);
    if (status) check(info.status === status, `expected HTTP ${status}, got ${info.status} (${JSON.stringify(info.body)})`);
    const issued = TOKEN_FIELDS.filter((f) => info.body && f in info.body);
    check(issued.length === 0, `the refusal carries ${issued.join(', ')}`);
    return info;
  }
  throw new Failure(`expected ${expected}, but it succeeded: ${JSON.stringify(value).slice(0, 300)}`);
}

function jwtHeader(token) {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
}

// ---------------------------------------------------------------- the whole flow

async function flow(cfg) {
  const f = result.flow;
  const browser = new Browser();
  const meta = cfg.serverMetadata();
  f.discovery = {
    issuer: meta.issuer, code_challenge_methods_supported: meta.code_challenge_methods_supported,
    grant_types_supported: meta.grant_types_supported, end_session_endpoint: meta.end_session_endpoint,
    acr_values_supported: meta.acr_values_supported, claims_parameter_supported: meta.claims_parameter_supported,
  };
  check(meta.issuer === ISSUER, `discovery issuer ${meta.issuer} != ${ISSUER}`);

  const { url, checks } = await authorizeUrl(cfg);
  const { location, trace } = await drive(browser, url, REDIRECT_URI);
  f.login_trace = trace;
  f.session_cookies = [...browser.jar.keys()];
  const tokens = await client.authorizationCodeGrant(cfg, location, checks);
  const claims = tokens.claims();
  f.token_response = { token_type: tokens.token_type, expires_in: tokens.expires_in, scope: tokens.scope, has_refresh_token: !!tokens.refresh_token };
  f.id_token = claims;
  f.access_token_header = jwtHeader(tokens.access_token);
  check(tokens.refresh_token, 'no refresh token issued');

  f.userinfo = await client.fetchUserInfo(cfg, tokens.access_token, claims.sub);

  // SSO: a second authorization answers at once with a code (no login page).
  const again = await authorizeUrl(cfg);
  const sso = await drive(browser, again.url, REDIRECT_URI);
  f.sso_trace = sso.trace;
  check(sso.trace.length === 1, `SSO should answer at once, went through ${sso.trace.join(', ')}`);
  const ssoTokens = await client.authorizationCodeGrant(cfg, sso.location, again.checks);

  // max_age=0 with an acr the realm lists: a new login, not the session's code; the library
  // checks the ID token's auth_time against max_age, and we read its acr and amr.
  const forced = await authorizeUrl(cfg, { max_age: '0', acr_values: (meta.acr_values_supported ?? ['1'])[0] });
  const reauth = await drive(browser, forced.url, REDIRECT_URI);
  f.max_age_trace = reauth.trace;
  check(reauth.trace.length > 1, `max_age=0 answered from the session: ${reauth.trace.join(', ')}`);
  const reauthTokens = await client.authorizationCodeGrant(cfg, reauth.location, { ...forced.checks, maxAge: 0 });
  const reauthClaims = reauthTokens.claims();
  f.max_age_id_token = { acr: reauthClaims.acr, amr: reauthClaims.amr, auth_time: reauthClaims.auth_time };

  const refreshed = await client.refreshTokenGrant(cfg, tokens.refresh_token);
  f.refresh_rotated = !!refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token;
  check(f.refresh_rotated, 'the refresh token did not rotate');
  f.refreshed_id_token_sub = refreshed.claims()?.sub ?? null;

  f.introspection_active = await client.tokenIntrospection(cfg, refreshed.access_token);
  check(f.introspection_active.active === true, `introspection of a fresh access token: ${JSON.stringify(f.introspection_active)}`);
  await client.tokenRevocation(cfg, refreshed.access_token, { token_type_hint: 'access_token' });
  f.introspection_after_revocation = await client.tokenIntrospection(cfg, refreshed.access_token);
  check(f.introspection_after_revocation.active === false, `revoked access token still active: ${JSON.stringify(f.introspection_after_revocation)}`);

  await client.tokenRevocation(cfg, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
  f.revoked_refresh_token = await refused(() => client.refreshTokenGrant(cfg, refreshed.refresh_token), 'invalid_grant');
  const rtIntrospection = await client.tokenIntrospection(cfg, refreshed.refresh_token);
  check(rtIntrospection.active === false, `revoked refresh token still active: ${JSON.stringify(rtIntrospection)}`);

  // RP-initiated logout, back to the post-logout URI with our state.
  const state = client.randomState();
  const endSession = client.buildEndSessionUrl(cfg, { id_token_hint: ssoTokens.id_token, post_logout_redirect_uri: POST_LOGOUT, state });
  const out = await drive(browser, endSession, POST_LOGOUT);
  f.logout_redirect = out.location.href;
  check(out.location.searchParams.get('state') === state, `logout did not return the state: ${out.location.href}`);

  // The session is gone: prompt=none answers login_required at the redirect URI.
  const none = await authorizeUrl(cfg, { prompt: 'none' });
  const after = await drive(browser, none.url, REDIRECT_URI);
  f.prompt_none_after_logout = Object.fromEntries(after.location.searchParams);
  check(after.location.searchParams.get('error') === 'login_required', `prompt=none after logout: ${after.location.href}`);
  check(after.location.searchParams.get('state') === none.checks.expectedState, 'prompt=none error without the state');
  check(!after.location.searchParams.get('code'), 'prompt=none after logout issued a code');
  await refused(() => client.authorizationCodeGrant(cfg, after.location, none.checks), 'login_required');
}

// ---------------------------------------------------------------- refusals

const CASES = {
  // /authorize never redirects to an unregistered URI: an error page, HTTP 400.
  async wrong_redirect_uri(cfg) {
    const { url } = await authorizeUrl(cfg, { redirect_uri: 'http://127.0.0.1:9/not-registered' });
    const res = await new Browser().request(url);
    const body = await res.text();
    check(res.status === 400, `expected HTTP 400, got ${res.status} (location ${res.headers.get('location')})`);
    check(!res.headers.get('location'), `redirected to ${res.headers.get('location')}`);
    return { status: res.status, page: pageText(body).slice(0, 120) };
  },
  async missing_code_verifier(cfg, browser) {
    const { callback, checks } = await codeFor(browser, cfg);
    return refused(() => client.authorizationCodeGrant(cfg, callback, { ...checks, pkceCodeVerifier: undefined }), 'invalid_grant');
  },
  async wrong_code_verifier(cfg, browser) {
    const { callback, checks } = await codeFor(browser, cfg);
    return refused(() => client.authorizationCodeGrant(cfg, callback, { ...checks, pkceCodeVerifier: client.randomPKCECodeVerifier() }), 'invalid_grant');
  },
  // A replayed code is refused and revokes what the first exchange issued.
  async replayed_code(cfg, browser) {
    const { callback, checks } = await codeFor(browser, cfg);
    const first = await client.authorizationCodeGrant(cfg, callback, checks);
    const before = await client.tokenIntrospection(cfg, first.access_token);
    check(before.active === true, 'the first exchange gave an inactive access token');
    const info = await refused(() => client.authorizationCodeGrant(cfg, callback, checks), 'invalid_grant');
    const after = await client.tokenIntrospection(cfg, first.access_token);
    check(after.active === false, `the access token of the first exchange is still active after the replay: ${JSON.stringify(after)}`);
    await refused(() => client.refreshTokenGrant(cfg, first.refresh_token), 'invalid_grant');
    return { ...info, first_access_token_active_after: after.active };
  },
  // Reusing a rotated refresh token revokes the whole family, the newest one too.
  async reused_refresh_token(cfg, browser) {
    const { callback, checks } = await codeFor(browser, cfg);
    const first = await client.authorizationCodeGrant(cfg, callback, checks);
    const second = await client.refreshTokenGrant(cfg, first.refresh_token);
    check(second.refresh_token && second.refresh_token !== first.refresh_token, 'refresh token did not rotate');
    const info = await refused(() => client.refreshTokenGrant(cfg, first.refresh_token), 'invalid_grant');
    await refused(() => client.refreshTokenGrant(cfg, second.refresh_token), 'invalid_grant');
    const newest = await client.tokenIntrospection(cfg, second.refresh_token);
    check(newest.active === false, `the newest refresh token of the family is still active: ${JSON.stringify(newest)}`);
    return { ...info, newest_refresh_token_active: newest.active };
  },
  // client_secret_basic with a wrong secret: 401 invalid_client.
  async wrong_client_secret(cfg, browser) {
    const { callback, checks } = await codeFor(browser, cfg);
    const wrong = await configFor(ISSUER, CLIENT_ID, `${CLIENT_SECRET}-wrong`, client.ClientSecretBasic());
    return refused(() => client.authorizationCodeGrant(wrong, callback, checks), 'invalid_client', 401);
  },
  async expired_code() {
    if (!env.RP_SHORT_ISSUER) return { skipped: 'RP_SHORT_ISSUER not set' };
    const cfg = await configFor(env.RP_SHORT_ISSUER, CLIENT_ID, CLIENT_SECRET, client.ClientSecretBasic());
    const browser = new Browser();
    const { url, checks } = await authorizeUrl(cfg);
    const { location } = await drive(browser, url, REDIRECT_URI);
    await new Promise((r) => setTimeout(r, 3500)); // the realm's authorization_code_s = 2
    return refused(() => client.authorizationCodeGrant(cfg, location, checks), 'invalid_grant');
  },
  async password_grant_not_allowed(cfg) {
    return refused(() => client.genericGrantRequest(cfg, 'password', { username: USERNAME, password: PASSWORD, scope: 'openid' }), 'unauthorized_client');
  },
  // Positive control: the client that lists the password grant gets tokens for the same user.
  async password_grant_allowed() {
    if (!env.RP_PASSWORD_CLIENT_ID) return { skipped: 'RP_PASSWORD_CLIENT_ID not set' };
    const cfg = await configFor(ISSUER, env.RP_PASSWORD_CLIENT_ID, env.RP_PASSWORD_CLIENT_SECRET, client.ClientSecretBasic());
    const t = await client.genericGrantRequest(cfg, 'password', { username: USERNAME, password: PASSWORD, scope: 'openid profile' });
    check(t.access_token, 'no access token');
    const info = await client.tokenIntrospection(cfg, t.access_token);
    check(info.active === true, 'inactive access token');
    // A wrong password is invalid_grant, and issues nothing.
    await refused(() => client.genericGrantRequest(cfg, 'password', { username: USERNAME, password: `${PASSWORD}-wrong`, scope: 'openid' }), 'invalid_grant');
    return { token_type: t.token_type, username: info.username ?? null, sub: info.sub };
  },
  async client_credentials() {
    if (!env.RP_SERVICE_CLIENT_ID) return { skipped: 'RP_SERVICE_CLIENT_ID not set' };
    const cfg = await configFor(ISSUER, env.RP_SERVICE_CLIENT_ID, env.RP_SERVICE_CLIENT_SECRET, client.ClientSecretBasic());
    const t = await client.clientCredentialsGrant(cfg);
    check(t.access_token && !t.refresh_token && !t.id_token, `client_credentials answered ${JSON.stringify(Object.keys(t))}`);
    const header = jwtHeader(t.access_token);
    check(/^(application\/)?at\+jwt$/i.test(header.typ ?? ''), `access token typ ${header.typ}`);
    const info = await client.tokenIntrospection(cfg, t.access_token);
    check(info.active === true && info.client_id === env.RP_SERVICE_CLIENT_ID, `introspection ${JSON.stringify(info)}`);
    // ...and a client without the grant is refused.
    const other = await configFor(ISSUER, CLIENT_ID, CLIENT_SECRET, client.ClientSecretBasic());
    await refused(() => client.clientCredentialsGrant(other), 'unauthorized_client');
    return { header, active: info.active };
  },
  // A public client: PKCE S256 and no secret works; no PKCE, or `plain`, is refused at /authorize.
  async public_client(_cfg) {
    if (!env.RP_PUBLIC_CLIENT_ID) return { skipped: 'RP_PUBLIC_CLIENT_ID not set' };
    const cfg = await configFor(ISSUER, env.RP_PUBLIC_CLIENT_ID, undefined, client.None());
    const browser = new Browser();
    const { callback, checks } = await codeFor(browser, cfg, { scope: 'openid profile email' });
    const t = await client.authorizationCodeGrant(cfg, callback, checks);
    check(t.claims()?.aud === env.RP_PUBLIC_CLIENT_ID || t.claims()?.aud?.includes?.(env.RP_PUBLIC_CLIENT_ID), 'id token audience');
    const noPkce = client.buildAuthorizationUrl(cfg, { redirect_uri: REDIRECT_URI, scope: 'openid', state: 's1', nonce: 'n1' });
    const a = await drive(browser, noPkce, REDIRECT_URI);
    check(a.location.searchParams.get('error') === 'invalid_request' && !a.location.searchParams.get('code'),
      `public client without PKCE: ${a.location.href}`);
    const plain = client.buildAuthorizationUrl(cfg, { redirect_uri: REDIRECT_URI, scope: 'openid', state: 's2', nonce: 'n2', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
    const b = await drive(browser, plain, REDIRECT_URI);
    check(b.location.searchParams.get('error') === 'invalid_request' && !b.location.searchParams.get('code'),
      `code_challenge_method=plain: ${b.location.href}`);
    return { without_pkce: a.location.searchParams.get('error'), plain: b.location.searchParams.get('error') };
  },
};

// ---------------------------------------------------------------- main

async function main() {
  let cfg;
  try {
    cfg = await configFor(ISSUER, CLIENT_ID, CLIENT_SECRET, client.ClientSecretBasic());
  } catch (e) {
    result.failures.push(`discovery: ${e.message}`);
    return;
  }
  if (WANTED.includes('all') || WANTED.includes('flow')) {
    try {
      await flow(cfg);
      result.flow.ok = true;
    } catch (e) {
      result.flow.ok = false;
      result.flow.error = e instanceof Failure ? e.message : `${e.name}: ${e.message} ${JSON.stringify(await errorInfo(e))}`;
      result.failures.push(`flow: ${result.flow.error}`);
    }
  }
  const browser = new Browser();
  for (const [name, run] of Object.entries(CASES)) {
    if (!WANTED.includes('all') && !WANTED.includes(name)) continue;
    try {
      const details = await run(cfg, browser);
      result.cases[name] = { ok: true, ...details };
    } catch (e) {
      const message = e instanceof Failure ? e.message : `${e.name}: ${e.message} ${JSON.stringify(await errorInfo(e))}`;
      result.cases[name] = { ok: false, failure: message };
      result.failures.push(`${name}: ${message}`);
    }
  }
}

await main();
result.ok = result.failures.length === 0;
console.log(JSON.stringify(result, null, 2));
if (!result.ok) {
  console.error(`openid_client_flow: ${result.failures.length} failure(s):\n  ${result.failures.join('\n  ')}`);
  process.exit(1);
}
