// node oidc-provider (panva, OpenID certified) as a test peer, started by tests/peers/oidc-provider.sh.
// Two roles:
//  - an upstream OpenID Provider for a broker: client `broker` / `broker-secret` (code flow, PKCE,
//    client_secret_basic), accounts alice/alice-pw and bob/bob-pw (passwords checked);
//  - the baseline of the client_credentials benchmark: client `bench` / `bench-secret`
//    (client_secret_basic, grant client_credentials) gets RS256 JWT access tokens (RFC 9068) for the
//    resource `urn:gatehouse:bench`, as Gatehouse issues them.
// env: OP_PORT (4000), OP_ISSUER (http://127.0.0.1:$OP_PORT), OP_REDIRECT_URIS (space separated),
//      OP_STATE_DIR (keys are kept there so that a restart keeps the JWKS), OP_PID_FILE (written once listening)
import Provider from 'oidc-provider';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import querystring from 'node:querystring';

const port = Number(process.env.OP_PORT || 4000);
const issuer = process.env.OP_ISSUER || `http://127.0.0.1:${port}`;
const stateDir = process.env.OP_STATE_DIR || '/tmp/gatehouse-peers/oidc-provider';
const redirectUris = (process.env.OP_REDIRECT_URIS ||
  'http://127.0.0.1:8080/callback http://localhost:8080/callback').split(/\s+/).filter(Boolean);
const BENCH_RESOURCE = 'urn:gatehouse:bench';

fs.mkdirSync(stateDir, { recursive: true });
const keyFile = `${stateDir}/jwks.json`;
if (!fs.existsSync(keyFile)) {
  const k = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  fs.writeFileSync(keyFile, JSON.stringify({ keys: [{ ...k, kid: 'op-rs256', use: 'sig', alg: 'RS256' }] }));
}

const ACCOUNTS = {
  alice: { password: 'alice-pw', claims: { email: 'alice@example.org', email_verified: true, name: 'Alice Liddell', given_name: 'Alice', family_name: 'Liddell', preferred_username: 'alice', groups: ['admins', 'staff'] } },
  bob: { password: 'bob-pw', claims: { email: 'bob@example.org', email_verified: true, name: 'Bob Builder', given_name: 'Bob', family_name: 'Builder', preferred_username: 'bob', groups: ['staff'] } },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'broker', client_secret: 'broker-secret',
      redirect_uris: redirectUris, post_logout_redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'bench', client_secret: 'bench-secret',
      redirect_uris: [], response_types: [], grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_basic', scope: 'api',
    },
  ],
  jwks: JSON.parse(fs.readFileSync(keyFile, 'utf8')),
  cookies: { keys: ['test-cookie-key-not-secret'] },
  claims: {
    openid: ['sub'], email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'], groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'api'],
  features: {
    devInteractions: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Only the bench client gets a resource (and so JWT access tokens) by default; the broker's
      // code flow keeps opaque tokens for the userinfo endpoint.
      defaultResource: async (ctx, client, oneOf) => oneOf || (client?.clientId === 'bench' ? BENCH_RESOURCE : undefined),
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource) => {
        if (resource !== BENCH_RESOURCE) throw new Provider.errors.InvalidTarget();
        return { scope: 'api', audience: BENCH_RESOURCE, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
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
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, AuthorizationCode: 60, IdToken: 600, RefreshToken: 3600, ClientCredentials: 300 },
});

// devInteractions accept any login and password: check the password of each login-form POST; a
// wrong one ends the flow with error=access_denied at the client's redirect_uri.
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

provider.listen(port, '127.0.0.1', () => {
  if (process.env.OP_PID_FILE) fs.writeFileSync(process.env.OP_PID_FILE, String(process.pid));
  console.log(`oidc-provider ${issuer} listening on 127.0.0.1:${port} (pid ${process.pid})`);
});
