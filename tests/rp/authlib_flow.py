"""A relying party built on PyPI `authlib` driving Gatehouse's OpenID Provider end to end.

Discovery, code + PKCE (S256) with state and nonce, the login page filled over plain HTTP like a
browser (requests session as cookie jar), code exchange with client_secret_post, the ID token
checked by authlib (JWKS signature through joserfc, then CodeIDToken: iss, aud, nonce, at_hash),
userinfo, refresh rotation, introspection, revocation, RP-initiated logout and prompt=none
afterwards; then the refusals, each with its RFC error code and nothing issued.

Input: the same environment variables as openid_client_flow.mjs (RP_ISSUER, RP_CLIENT_ID,
RP_CLIENT_SECRET, RP_REDIRECT_URI, RP_POST_LOGOUT_REDIRECT_URI, RP_USERNAME, RP_PASSWORD,
RP_SCOPE, RP_SHORT_ISSUER, RP_PASSWORD_CLIENT_ID/_SECRET, RP_CASES).
Output: one JSON object on stdout ({ok, flow, cases, failures}); exit 1 when anything failed.
"""

import base64
import html.parser
import json
import os
import sys
import time
import traceback
from urllib.parse import parse_qsl, urljoin, urlsplit

# Plain-HTTP issuers on loopback: let authlib's metadata checks accept http:// URLs.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import authlib  # noqa: E402
import requests  # noqa: E402
from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session, OAuthError  # noqa: E402
from authlib.oidc.core import CodeIDToken  # noqa: E402
from authlib.oidc.discovery import OpenIDProviderMetadata  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.jwk import KeySet  # noqa: E402
from joserfc.jws import JWSRegistry  # noqa: E402


def need(name):
    value = os.environ.get(name)
    if not value:
        print(f"authlib_flow: {name} is required", file=sys.stderr)
        sys.exit(2)
    return value


ISSUER = need("RP_ISSUER")
CLIENT_ID = need("RP_CLIENT_ID")
CLIENT_SECRET = need("RP_CLIENT_SECRET")
REDIRECT_URI = os.environ.get("RP_REDIRECT_URI") or "http://127.0.0.1:9/callback"
POST_LOGOUT = os.environ.get("RP_POST_LOGOUT_REDIRECT_URI") or "http://127.0.0.1:9/logged-out"
USERNAME = need("RP_USERNAME")
PASSWORD = need("RP_PASSWORD")
SCOPE = os.environ.get("RP_SCOPE") or "openid profile email offline_access"
WANTED = [c.strip() for c in (os.environ.get("RP_CASES") or "all").split(",") if c.strip()]
TOKEN_FIELDS = ("access_token", "id_token", "refresh_token")
TIMEOUT = 30

result = {
    "library": "authlib",
    "version": authlib.__version__,
    "issuer": ISSUER,
    "ok": False,
    "flow": {},
    "cases": {},
    "failures": [],
}


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


# ------------------------------------------------------------------ the "browser"


class FormParser(html.parser.HTMLParser):
    """Collects the POST forms of a page: action and inputs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self._current, self.text = [], None, []

    def handle_starttag(self, tag, attrs):
        attrs = {k.lower(): (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._current = {"attrs": attrs, "inputs": []}
        elif tag == "input" and self._current is not None:
            self._current["inputs"].append(attrs)

    def handle_endtag(self, tag):
        if tag == "form" and self._current is not None:
            self.forms.append(self._current)
            self._current = None

    def handle_data(self, data):
        if data.strip():
            self.text.append(data.strip())


def page_text(parser):
    return " ".join(parser.text)[:300]


def drive(browser, start, stop_at, username=USERNAME, password=PASSWORD):
    """Follow the browser from `start` until a redirect to `stop_at` (returned, never followed)."""
    origin = urlsplit(ISSUER)[:2]
    trace, url, method, data, passwords_sent = [], start, "GET", None, 0
    for _ in range(12):
        r = browser.request(method, url, data=data, allow_redirects=False, timeout=TIMEOUT)
        trace.append(f"{method} {urlsplit(url).path} -> {r.status_code}")
        if r.status_code in (301, 302, 303, 307, 308):
            location = r.headers.get("location")
            check(location, f"redirect without Location at {url}")
            nxt = urljoin(url, location)
            if nxt.startswith(stop_at):
                return nxt, trace
            check(urlsplit(nxt)[:2] == origin, f"redirect out of the issuer to {nxt} ({', '.join(trace)})")
            url, method, data = nxt, "GET", None
            continue
        parser = FormParser()
        parser.feed(r.text)
        check(r.status_code == 200, f"HTTP {r.status_code} at {url}: {page_text(parser)} ({', '.join(trace)})")
        # Among the POST forms, the one asking for username or password (a login step may have a
        # second form, e.g. "Not you?"), else the only one.
        posts = [f for f in parser.forms if f["attrs"].get("method", "get").lower() == "post"]
        login = [f for f in posts if any(i.get("name") in ("username", "password") for i in f["inputs"])]
        chosen = login if login else posts
        check(len(chosen) == 1, f"no single form to fill at {url}: {page_text(parser)} ({', '.join(trace)})")
        form, fields = chosen[0], {}
        for field in form["inputs"]:
            name, kind = field.get("name"), field.get("type", "text").lower()
            if not name:
                continue
            if name == "username":
                fields[name] = username
            elif name == "password":
                check(passwords_sent == 0, f"login refused: {page_text(parser)}")
                fields[name] = password
                passwords_sent += 1
            elif kind in ("hidden", "submit") and "value" in field:
                fields[name] = field["value"]
        url = urljoin(url, form["attrs"].get("action") or url)
        check(urlsplit(url)[:2] == origin, f"form posts out of the issuer to {url}")
        method, data = "POST", fields
    raise Failure(f"no redirect to {stop_at} after 12 steps ({', '.join(trace)})")


def query(url):
    return dict(parse_qsl(urlsplit(url).query))


# ------------------------------------------------------------------ the relying party


class RP:
    """One client of one issuer, on authlib's OAuth2Session. Records the last HTTP response."""

    def __init__(self, issuer, client_id, secret, auth_method="client_secret_post"):
        self.issuer = issuer
        self.meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=TIMEOUT).json()
        check(self.meta.get("issuer") == issuer, f"discovery issuer {self.meta.get('issuer')} != {issuer}")
        self.client_id = client_id
        self.session = OAuth2Session(
            client_id,
            secret,
            scope=SCOPE,
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
            token_endpoint_auth_method=auth_method,
        )
        self.last = None
        self.session.hooks["response"].append(self._record)

    def _record(self, response, *args, **kwargs):
        self.last = response

    def authorize_url(self, **extra):
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = self.session.create_authorization_url(
            self.meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra
        )
        return url, {"verifier": verifier, "nonce": nonce, "state": state}

    def code(self, browser, **extra):
        url, checks = self.authorize_url(**extra)
        callback, _ = drive(browser, url, REDIRECT_URI)
        params = query(callback)
        check(params.get("code"), f"no code in {callback}")
        check(params.get("state") == checks["state"], f"state not returned in {callback}")
        return callback, checks

    def exchange(self, callback, checks, verifier=...):
        kwargs = {"authorization_response": callback, "state": checks["state"]}
        verifier = checks["verifier"] if verifier is ... else verifier
        if verifier is not None:
            kwargs["code_verifier"] = verifier
        # authlib adds the verifier it was given; without one it sends none.
        return self.session.fetch_token(self.meta["token_endpoint"], **kwargs)

    def id_token(self, token, nonce):
        """Verify the ID token with authlib: signature against the JWKS, then CodeIDToken."""
        keys = KeySet.import_key_set(requests.get(self.meta["jwks_uri"], timeout=TIMEOUT).json())
        algs = self.meta.get("id_token_signing_alg_values_supported")
        decoded = jwt.decode(token["id_token"], keys, registry=JWSRegistry(algorithms=algs))
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"essential": True, "value": self.issuer}, "aud": {"essential": True, "value": self.client_id}},
            {"nonce": nonce, "client_id": self.client_id, "access_token": token.get("access_token")},
        )
        claims.validate(leeway=60)
        return dict(claims), decoded.header

    def introspect(self, token, hint=None):
        extra = {"token_type_hint": hint} if hint else {}
        r = self.session.introspect_token(self.meta["introspection_endpoint"], token=token, **extra)
        check(r.status_code == 200, f"introspection answered HTTP {r.status_code}: {r.text[:200]}")
        return r.json()

    def revoke(self, token, hint):
        r = self.session.revoke_token(self.meta["revocation_endpoint"], token=token, token_type_hint=hint)
        check(r.status_code == 200, f"revocation answered HTTP {r.status_code}: {r.text[:200]}")

    def refresh(self, refresh_token):
        return self.session.refresh_token(self.meta["token_endpoint"], refresh_token=refresh_token)

    def refused(self, fn, expected, status=None):
        """`fn` must raise authlib's OAuthError `expected`; the HTTP answer must carry no token."""
        self.last = None
        try:
            value = fn()
        except OAuthError as e:
            got = {"error": e.error, "description": e.description}
            if self.last is not None:
                got["status"] = self.last.status_code
                try:
                    got["body"] = self.last.json()
                except ValueError:
                    got["body"] = self.last.text[:200]
            check(e.error == expected, f"expected {expected}, got {got}")
            if status:
                check(got.get("status") == status, f"expected HTTP {status}, got {got}")
            body = got.get("body") if isinstance(got.get("body"), dict) else {}
            issued = [f for f in TOKEN_FIELDS if f in body]
            check(not issued, f"the refusal carries {issued}")
            return got
        raise Failure(f"expected {expected}, but it succeeded: {str(value)[:300]}")


def jwt_header(token):
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


# ------------------------------------------------------------------ the whole flow


def flow(rp):
    f = result["flow"]
    browser = requests.Session()
    f["discovery"] = {k: rp.meta.get(k) for k in ("issuer", "code_challenge_methods_supported", "grant_types_supported")}
    # authlib's RFC 8414 / OpenID Discovery checks of the metadata document.
    OpenIDProviderMetadata(rp.meta).validate()

    url, checks = rp.authorize_url()
    callback, trace = drive(browser, url, REDIRECT_URI)
    f["login_trace"] = trace
    f["session_cookies"] = sorted({c.name for c in browser.cookies})
    token = rp.exchange(callback, checks)
    f["id_token"], f["id_token_header"] = rp.id_token(token, checks["nonce"])
    f["access_token_header"] = jwt_header(token["access_token"])
    f["token_response"] = {k: token.get(k) for k in ("token_type", "expires_in", "scope")}
    check(token.get("refresh_token"), "no refresh token issued")

    r = rp.session.get(rp.meta["userinfo_endpoint"], timeout=TIMEOUT)
    check(r.status_code == 200, f"userinfo answered HTTP {r.status_code}: {r.text[:200]}")
    f["userinfo"] = r.json()
    check(f["userinfo"].get("sub") == f["id_token"]["sub"], "userinfo sub differs from the ID token's")

    # SSO: a second authorization answers at once.
    url2, checks2 = rp.authorize_url()
    callback2, trace2 = drive(browser, url2, REDIRECT_URI)
    f["sso_trace"] = trace2
    check(len(trace2) == 1, f"SSO should answer at once, went through {trace2}")
    sso_token = rp.exchange(callback2, checks2)
    rp.id_token(sso_token, checks2["nonce"])

    refreshed = rp.refresh(token["refresh_token"])
    f["refresh_rotated"] = bool(refreshed.get("refresh_token")) and refreshed["refresh_token"] != token["refresh_token"]
    check(f["refresh_rotated"], "the refresh token did not rotate")

    f["introspection_active"] = rp.introspect(refreshed["access_token"], "access_token")
    check(f["introspection_active"].get("active") is True, f"fresh access token: {f['introspection_active']}")
    rp.revoke(refreshed["access_token"], "access_token")
    f["introspection_after_revocation"] = rp.introspect(refreshed["access_token"], "access_token")
    check(f["introspection_after_revocation"].get("active") is False, "revoked access token still active")

    rp.revoke(refreshed["refresh_token"], "refresh_token")
    f["revoked_refresh_token"] = rp.refused(lambda: rp.refresh(refreshed["refresh_token"]), "invalid_grant")

    # RP-initiated logout with id_token_hint, back with our state.
    state = generate_token(16)
    logout = requests.Request(
        "GET",
        rp.meta["end_session_endpoint"],
        params={"id_token_hint": sso_token["id_token"], "post_logout_redirect_uri": POST_LOGOUT, "state": state},
    ).prepare().url
    back, _ = drive(browser, logout, POST_LOGOUT)
    f["logout_redirect"] = back
    check(query(back).get("state") == state, f"logout did not return the state: {back}")

    url3, checks3 = rp.authorize_url(prompt="none")
    after, _ = drive(browser, url3, REDIRECT_URI)
    f["prompt_none_after_logout"] = query(after)
    check(query(after).get("error") == "login_required", f"prompt=none after logout: {after}")
    check(query(after).get("state") == checks3["state"], "prompt=none error without the state")
    check("code" not in query(after), "prompt=none after logout issued a code")


# ------------------------------------------------------------------ refusals


def case_wrong_redirect_uri(rp, browser):
    url, _ = rp.authorize_url(redirect_uri="http://127.0.0.1:9/not-registered")
    r = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    check(r.status_code == 400, f"expected HTTP 400, got {r.status_code} (location {r.headers.get('location')})")
    check("location" not in r.headers, f"redirected to {r.headers.get('location')}")
    return {"status": r.status_code}


def case_missing_code_verifier(rp, browser):
    callback, checks = rp.code(browser)
    return rp.refused(lambda: rp.exchange(callback, checks, verifier=None), "invalid_grant")


def case_wrong_code_verifier(rp, browser):
    callback, checks = rp.code(browser)
    return rp.refused(lambda: rp.exchange(callback, checks, verifier=generate_token(48)), "invalid_grant")


def case_replayed_code(rp, browser):
    callback, checks = rp.code(browser)
    first = rp.exchange(callback, checks)
    check(rp.introspect(first["access_token"]).get("active") is True, "first exchange gave an inactive token")
    got = rp.refused(lambda: rp.exchange(callback, checks), "invalid_grant")
    after = rp.introspect(first["access_token"])
    check(after.get("active") is False, f"the first exchange's access token is still active after the replay: {after}")
    rp.refused(lambda: rp.refresh(first["refresh_token"]), "invalid_grant")
    return {**got, "first_access_token_active_after": after.get("active")}


def case_reused_refresh_token(rp, browser):
    callback, checks = rp.code(browser)
    first = rp.exchange(callback, checks)
    second = rp.refresh(first["refresh_token"])
    check(second.get("refresh_token") not in (None, first["refresh_token"]), "refresh token did not rotate")
    got = rp.refused(lambda: rp.refresh(first["refresh_token"]), "invalid_grant")
    rp.refused(lambda: rp.refresh(second["refresh_token"]), "invalid_grant")
    newest = rp.introspect(second["refresh_token"], "refresh_token")
    check(newest.get("active") is False, f"the newest refresh token of the family is still active: {newest}")
    return {**got, "newest_refresh_token_active": newest.get("active")}


def case_wrong_client_secret(rp, browser):
    callback, checks = rp.code(browser)
    for method in ("client_secret_post", "client_secret_basic"):
        wrong = RP(ISSUER, CLIENT_ID, CLIENT_SECRET + "-wrong", method)
        got = wrong.refused(lambda: wrong.exchange(callback, checks), "invalid_client", 401)
        if method == "client_secret_basic":
            check(
                "basic" in wrong.last.headers.get("www-authenticate", "").lower(),
                f"no WWW-Authenticate: Basic on a refused basic authentication: {dict(wrong.last.headers)}",
            )
    # Informational: whether the code is still good for its real client after the refusals.
    try:
        got["code_usable_after"] = bool(rp.exchange(callback, checks).get("access_token"))
    except OAuthError as e:
        got["code_usable_after"] = e.error
    return got


def case_expired_code(rp, browser):
    short = os.environ.get("RP_SHORT_ISSUER")
    if not short:
        return {"skipped": "RP_SHORT_ISSUER not set"}
    srp = RP(short, CLIENT_ID, CLIENT_SECRET)
    callback, checks = srp.code(requests.Session())
    time.sleep(3.5)  # the realm's authorization_code_s = 2
    return srp.refused(lambda: srp.exchange(callback, checks), "invalid_grant")


def case_password_grant_not_allowed(rp, browser):
    return rp.refused(
        lambda: rp.session.fetch_token(rp.meta["token_endpoint"], username=USERNAME, password=PASSWORD),
        "unauthorized_client",
    )


def case_password_grant_allowed(rp, browser):
    cid = os.environ.get("RP_PASSWORD_CLIENT_ID")
    if not cid:
        return {"skipped": "RP_PASSWORD_CLIENT_ID not set"}
    prp = RP(ISSUER, cid, os.environ.get("RP_PASSWORD_CLIENT_SECRET", ""), "client_secret_basic")
    token = prp.session.fetch_token(prp.meta["token_endpoint"], username=USERNAME, password=PASSWORD)
    check(token.get("access_token"), "no access token")
    check(prp.introspect(token["access_token"]).get("active") is True, "inactive access token")
    prp.refused(
        lambda: prp.session.fetch_token(prp.meta["token_endpoint"], username=USERNAME, password=PASSWORD + "-wrong"),
        "invalid_grant",
    )
    return {"token_type": token.get("token_type")}


CASES = {
    "wrong_redirect_uri": case_wrong_redirect_uri,
    "missing_code_verifier": case_missing_code_verifier,
    "wrong_code_verifier": case_wrong_code_verifier,
    "replayed_code": case_replayed_code,
    "reused_refresh_token": case_reused_refresh_token,
    "wrong_client_secret": case_wrong_client_secret,
    "expired_code": case_expired_code,
    "password_grant_not_allowed": case_password_grant_not_allowed,
    "password_grant_allowed": case_password_grant_allowed,
}


def describe(e):
    if isinstance(e, Failure):
        return str(e)
    if isinstance(e, OAuthError):
        return f"OAuthError {e.error}: {e.description}"
    return f"{type(e).__name__}: {e} at {traceback.extract_tb(e.__traceback__)[-1].lineno}"


def main():
    try:
        rp = RP(ISSUER, CLIENT_ID, CLIENT_SECRET)
    except Exception as e:  # noqa: BLE001 - reported in the JSON
        result["failures"].append(f"discovery: {describe(e)}")
        return
    if "all" in WANTED or "flow" in WANTED:
        try:
            flow(rp)
            result["flow"]["ok"] = True
        except Exception as e:  # noqa: BLE001
            result["flow"]["ok"] = False
            result["flow"]["error"] = describe(e)
            result["failures"].append(f"flow: {describe(e)}")
    browser = requests.Session()
    for name, run in CASES.items():
        if "all" not in WANTED and name not in WANTED:
            continue
        # A fresh RP per case: the OAuth2Session keeps the last token it fetched.
        case_rp = RP(ISSUER, CLIENT_ID, CLIENT_SECRET)
        try:
            result["cases"][name] = {"ok": True, **(run(case_rp, browser) or {})}
        except Exception as e:  # noqa: BLE001
            result["cases"][name] = {"ok": False, "failure": describe(e)}
            result["failures"].append(f"{name}: {describe(e)}")


if __name__ == "__main__":
    main()
    result["ok"] = not result["failures"]
    print(json.dumps(result, indent=2, default=str))
    if not result["ok"]:
        print(f"authlib_flow: {len(result['failures'])} failure(s):\n  " + "\n  ".join(result["failures"]), file=sys.stderr)
        sys.exit(1)
