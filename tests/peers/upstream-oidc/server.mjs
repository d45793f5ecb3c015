// node oidc-provider (panva, OpenID certified) as the upstream OpenID Provider — and plain OAuth 2.0
// server — of the `oidc` and `oauth2` connectors' tests. Started by tests/peers/upstream-oidc.sh.
//
// env: OP_PORT (required), OP_STATE_DIR (required: jwks.json lives there, so a restart keeps the
//      signing key and `upstream-oidc.sh rotate` changes it by deleting the file), OP_PID_FILE
//      (written once listening).
//
// Clients (redirect URIs http://127.0.0.1:8080/callback and http://127.0.0.1:8080/oauth2/callback):
//   broker / broker-secret            client_secret_basic
//   broker-post / broker-post-secret  client_secret_post
//   broker-public                     no secret (PKCE only)
// and any number registered at run time (Dynamic Client Registration, open: POST /reg, or
// `upstream-oidc.sh register URI...`), for brokers on ports known only when a test starts them.
// PKCE (S256) is required of every client, so a connector that forgets it fails against this peer.
// Accounts: alice / alice-pw, bob / bob-pw. The password IS checked (devInteractions alone would
// accept any): a wrong one ends the flow at the redirect URI with error=access_denied.
// Scopes: openid email profile groups org. ID tokens carry only the protocol claims (code flow);
// email, name, groups, org come from the userinfo endpoint.
// GET /api/v1/me (Bearer access token) answers the same person as a plain OAuth 2.0 IAM's profile
// would, nested: { user: { id, login, mail, display_name, teams } } — the shape
// config/examples/oauth2-iam.toml reads.
import Provider from 'oidc-provider';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import querystring from 'node:querystring';

const port = Number(process.env.OP_PORT);
const stateDir = process.env.OP_STATE_DIR;
if (!port || !stateDir) throw new Error('OP_PORT and OP_STATE_DIR are required');
const issuer = `http://127.0.0.1:${port}`;
// The connectors' tests only compare these; a broker on a real port registers its own client.
const redirectUris = ['http://127.0.0.1:8080/callback', 'http://127.0.0.1:8080/oauth2/callback'];

// One RS256 key, kept across restarts. Its kid changes with each new key, which is what a relying
// party sees of a rotation.
fs.mkdirSync(stateDir, { recursive: true });
const keyFile = `${stateDir}/jwks.json`;
if (!fs.existsSync(keyFile)) {
  const k = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const kid = `op-${Date.now().toString(36)}`;
  fs.writeFileSync(keyFile, JSON.stringify({ keys: [{ ...k, kid, use: 'sig', alg: 'RS256' }] }));
}

const ACCOUNTS = {
  alice: {
    password: 'alice-pw',
    claims: {
      email: 'alice@example.org', email_verified: true, name: 'Alice Liddell', given_name: 'Alice',
      family_name: 'Liddell', preferred_username: 'alice', groups: ['admins', 'staff'],
      org: { unit: 'research', roles: ['reviewer', 'author'] },
    },
  },
  bob: {
    password: 'bob-pw',
    claims: {
      email: 'bob@partner.example', email_verified: false, name: 'Bob Builder', given_name: 'Bob',
      family_name: 'Builder', preferred_username: 'bob', groups: ['staff'],
      org: { unit: 'construction', roles: [] },
    },
  },
};

const client = (id, secret, method) => ({
  client_id: id, ...(secret ? { client_secret: secret } : {}),
  redirect_uris: redirectUris, post_logout_redirect_uris: redirectUris,
  grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: method,
});

const provider = new Provider(issuer, {
  clients: [
    client('broker', 'broker-secret', 'client_secret_basic'),
    client('broker-post', 'broker-post-secret', 'client_secret_post'),
    client('broker-public', null, 'none'),
  ],
  jwks: JSON.parse(fs.readFileSync(keyFile, 'utf8')),
  cookies: { keys: ['test-cookie-key-not-secret'] },
  claims: {
    openid: ['sub'], email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'], groups: ['groups'], org: ['org'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'org'],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, registration: { enabled: true } },
  async findAccount(ctx, id) {
    const a = ACCOUNTS[id];
    if (!a) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...a.claims }; } };
  },
  // No consent screen: grant what the (first-party) client asked for.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
    grant.addOIDCClaims(Object.keys(ctx.oidc.claims?.id_token || {}).concat(Object.keys(ctx.oidc.claims?.userinfo || {})));
    await grant.save();
    return grant;
  },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, AuthorizationCode: 60, IdToken: 600 },
});

// devInteractions accept any login and password: check the password of each login-form POST.
provider.use(async (ctx, next) => {
  const m = ctx.method === 'POST' && ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!m) return next();
  const raw = await new Promise((res, rej) => { let b = ''; ctx.req.on('data', (c) => { b += c; }); ctx.req.on('end', () => res(b)); ctx.req.on('error', rej); });
  const body = querystring.parse(raw);
  if (body.prompt !== 'login') ctx.throw(400, 'unexpected prompt');
  const a = ACCOUNTS[body.login];
  const result = a && a.password === body.password
    ? { login: { accountId: body.login } }
    : { error: 'access_denied', error_description: 'invalid username or password' };
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.respond = false;
});

// The plain OAuth 2.0 profile endpoint.
provider.use(async (ctx, next) => {
  if (ctx.method !== 'GET' || ctx.path !== '/api/v1/me') return next();
  const token = (ctx.get('authorization') || '').replace(/^Bearer /, '');
  const at = token ? await provider.AccessToken.find(token) : undefined;
  const a = at && ACCOUNTS[at.accountId];
  if (!a) { ctx.status = 401; ctx.body = { error: 'invalid_token' }; return; }
  ctx.body = {
    user: {
      id: at.accountId, login: at.accountId, mail: a.claims.email,
      display_name: a.claims.name, teams: a.claims.groups,
    },
  };
});

provider.listen(port, '127.0.0.1', () => {
  if (process.env.OP_PID_FILE) fs.writeFileSync(process.env.OP_PID_FILE, String(process.pid));
  console.log(`upstream oidc-provider ${issuer} listening (pid ${process.pid})`);
});
