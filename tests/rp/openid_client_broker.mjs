// A relying party built on npm `openid-client` logging in through Gatehouse as a broker: discovery
// of Gatehouse's realm, code + PKCE (S256) with state and nonce, the login page's button for an
// upstream provider, the login at the upstream (node oidc-provider's form), back through
// Gatehouse's broker callback, the code exchanged (ID token checked by the library), userinfo;
// then RP-initiated logout at Gatehouse, which ends the upstream session too when the provider
// asks for it (global_logout / logout_url), and a second authorization that shows whether the
// upstream asks for the password again.
//
// Input (environment):
//   RP_ISSUER, RP_CLIENT_ID, RP_CLIENT_SECRET   Gatehouse realm and client (required)
//   RP_REDIRECT_URI, RP_POST_LOGOUT_REDIRECT_URI registered at Gatehouse (never followed)
//   RP_PROVIDER        the redirect provider's id (its button on the login page) (required)
//   RP_UPSTREAM        the upstream's URL (the browser may go there) (required)
//   RP_USERNAME / RP_PASSWORD   an account at the upstream (required)
//   RP_SCOPE           default "openid profile email"
// Output: one JSON object on stdout ({ok, login, logout, relogin, failures}); exit 1 on failure.
import * as client from 'openid-client';
import { Browser, pageText, postForms } from './browser.mjs';

const env = process.env;
function need(name) {
  const v = env[name];
  if (!v) {
    console.error(`openid_client_broker: ${name} is required`);
    process.exit(2);
  }
  return v;
}
const ISSUER = need('RP_ISSUER');
const CLIENT_ID = need('RP_CLIENT_ID');
const CLIENT_SECRET = need('RP_CLIENT_SECRET');
const REDIRECT_URI = env.RP_REDIRECT_URI || 'http://127.0.0.1:9/callback';
const POST_LOGOUT = env.RP_POST_LOGOUT_REDIRECT_URI || 'http://127.0.0.1:9/logged-out';
const PROVIDER = need('RP_PROVIDER');
const UPSTREAM = need('RP_UPSTREAM');
const USERNAME = need('RP_USERNAME');
const PASSWORD = need('RP_PASSWORD');
const SCOPE = env.RP_SCOPE || 'openid profile email';

const result = { library: 'openid-client', issuer: ISSUER, ok: false, failures: [] };
class Failure extends Error {}
function check(cond, message) {
  if (!cond) throw new Failure(message);
}

// What a person does on each page: on Gatehouse's login page, press the provider's button; at
// the upstream, type the password into its login form, or confirm its sign-out. Follows redirects
// between Gatehouse and the upstream; stops at a redirect to `stopAt` (returned, never followed).
async function drive(browser, start, stopAt) {
  const allowed = new Set([new URL(ISSUER).origin, new URL(UPSTREAM).origin]);
  const trace = [];
  let upstreamLogins = 0;
  let url = new URL(start);
  let init = { method: 'GET' };
  for (let step = 0; step < 16; step++) {
    const res = await browser.request(url, init);
    trace.push(`${init.method} ${url.origin === new URL(ISSUER).origin ? 'gatehouse' : 'upstream'}${url.pathname} -> ${res.status}`);
    if ([301, 302, 303, 307, 308].includes(res.status)) {
      const next = new URL(res.headers.get('location'), url);
      if (next.href.startsWith(stopAt)) return { location: next, trace, upstreamLogins };
      check(allowed.has(next.origin), `redirect to ${next.href} (${trace.join(', ')})`);
      url = next;
      init = { method: 'GET' };
      continue;
    }
    const body = await res.text();
    check(res.status === 200, `HTTP ${res.status} at ${url.pathname}: ${pageText(body)} (${trace.join(', ')})`);
    const forms = postForms(body);
    const button = forms.find((f) => (f.attrs.action || '').endsWith(`/broker/${PROVIDER}/start`));
    const login = forms.find((f) => f.inputs.some((i) => i.name === 'login') && f.inputs.some((i) => i.name === 'password'));
    const signOut = forms.find((f) => f.attrs.id === 'op.logoutForm');
    const form = button || login || signOut;
    check(form, `nothing to do on ${url.pathname}: ${pageText(body)} (${trace.join(', ')})`);
    const fields = new URLSearchParams();
    for (const input of form.inputs) {
      if (input.name && (input.type || 'text').toLowerCase() === 'hidden') fields.set(input.name, input.value ?? '');
    }
    if (form === login) {
      check(upstreamLogins === 0, `the upstream refused the login: ${pageText(body)}`);
      upstreamLogins++;
      fields.set('login', USERNAME);
      fields.set('password', PASSWORD);
    }
    if (form === signOut) fields.set('logout', 'yes');
    url = new URL(form.attrs.action || url.href, url);
    check(allowed.has(url.origin), `form posts to ${url.href}`);
    init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields.toString() };
  }
  throw new Failure(`no redirect to ${stopAt} after 16 steps (${trace.join(', ')})`);
}

async function login(cfg, browser) {
  const verifier = client.randomPKCECodeVerifier();
  const checks = { pkceCodeVerifier: verifier, expectedNonce: client.randomNonce(), expectedState: client.randomState() };
  const url = client.buildAuthorizationUrl(cfg, {
    redirect_uri: REDIRECT_URI, scope: SCOPE, state: checks.expectedState, nonce: checks.expectedNonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const { location, trace, upstreamLogins } = await drive(browser, url, REDIRECT_URI);
  const tokens = await client.authorizationCodeGrant(cfg, location, checks);
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(cfg, tokens.access_token, claims.sub);
  return { trace, upstream_logins: upstreamLogins, id_token: tokens.id_token, claims, userinfo };
}

async function main() {
  const cfg = await client.discovery(new URL(ISSUER), CLIENT_ID, { client_secret: CLIENT_SECRET },
    client.ClientSecretBasic(CLIENT_SECRET), { execute: [client.allowInsecureRequests] });
  client.enableNonRepudiationChecks(cfg);
  const browser = new Browser();

  const first = await login(cfg, browser);
  result.login = { trace: first.trace, upstream_logins: first.upstream_logins, claims: first.claims, userinfo: first.userinfo };
  check(first.upstream_logins === 1, 'the upstream did not ask for the password at the first login');
  check(first.claims.amr?.includes('fed'), `amr ${JSON.stringify(first.claims.amr)}`);

  const state = client.randomState();
  const endSession = client.buildEndSessionUrl(cfg, { id_token_hint: first.id_token, post_logout_redirect_uri: POST_LOGOUT, state });
  const out = await drive(browser, endSession, POST_LOGOUT);
  result.logout = { trace: out.trace, location: out.location.href };
  check(out.location.searchParams.get('state') === state, `logout did not return the state: ${out.location.href}`);

  const again = await login(cfg, browser);
  result.relogin = { trace: again.trace, upstream_logins: again.upstream_logins, sub: again.claims.sub };
  check(again.claims.sub === first.claims.sub, 'another account at the second login');
}

try {
  await main();
  result.ok = true;
} catch (e) {
  result.failures.push(e instanceof Failure ? e.message : `${e.name}: ${e.message}${e.code ? ` (${e.code})` : ''}`);
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
