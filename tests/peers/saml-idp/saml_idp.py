#!/usr/bin/env python3
"""The test SAML 2.0 IdP of Gatehouse's tests: pysaml2 (+ Debian's xmlsec1), loopback only.

  saml_idp.py serve --port P --state DIR [--sp-metadata FILE_OR_URL ...]

Endpoints (http://127.0.0.1:P):
  GET  /metadata             the IdP's metadata (signing certificate, SSO and SLO endpoints)
  GET  /sso/redirect         SP-initiated login, HTTP-Redirect binding  -> a login form
  POST /sso/post             SP-initiated login, HTTP-POST binding      -> a login form
  POST /login                username + password -> an auto-submitting form POSTing the signed
                             SAMLResponse (Response and Assertion signed, RSA-SHA256) to the ACS;
                             an `assertion_id` field forces the Assertion's ID (replay tests)
  GET  /slo/redirect         the IdP's SingleLogoutService: a LogoutRequest from an SP (answered
                             with a LogoutResponse redirect) or the SP's LogoutResponse (a page)
  GET  /idp-logout?user=U&sp=ENTITY_ID[&unsigned=1]
                             IdP-initiated single logout: a signed (or unsigned) LogoutRequest
                             (HTTP-Redirect) for U's last session at that SP
  POST /admin/trust          url=SP_METADATA_URL or xml=SP_METADATA: trust that SP from now on
  POST /admin/emit           user, acs, audience [, in_response_to, assertion_id, nameid,
                             attr=k=v ...]: a signed SAMLResponse (base64) without a login
  GET  /admin/sessions       JSON: user -> sp -> [name_id, session_index] of the last logins
                             (an SP's LogoutRequest removes the matching entry)
  GET  /admin/logouts        JSON: the LogoutRequests SPs sent: [{sp, name_id, session_index, signed}]

An AuthnRequest from an SP whose metadata the IdP has not loaded, or whose ACS URL that metadata
does not list, is refused: a login through this IdP shows that it accepted the SP's metadata.
Users: alice/alice-pw (groups admins, staff), bob/bob-pw (staff), carol/carol-pw (contractors).
"""
import argparse
import base64
import html
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import saml2.assertion
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.authn_context import PASSWORD
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT
from saml2.saml import NAMEID_FORMAT_UNSPECIFIED, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

USERS = {
    'alice': {'password': 'alice-pw', 'nameid': 'alice@example.org',
              'attrs': {'mail': ['alice@example.org'], 'givenName': ['Alice'], 'sn': ['Liddell'],
                        'displayName': ['Alice Liddell'], 'uid': ['alice'], 'groups': ['admins', 'staff']}},
    'bob': {'password': 'bob-pw', 'nameid': 'bob@example.org',
            'attrs': {'mail': ['bob@example.org'], 'givenName': ['Bob'], 'sn': ['Builder'],
                      'displayName': ['Bob Builder'], 'uid': ['bob'], 'groups': ['staff']}},
    'carol': {'password': 'carol-pw', 'nameid': 'carol@partner.example',
              'attrs': {'mail': ['carol@partner.example'], 'givenName': ['Carol'], 'sn': ['Contractor'],
                        'displayName': ['Carol Contractor'], 'uid': ['carol'], 'groups': ['contractors']}},
}
ATTRS = ['mail', 'givenName', 'sn', 'uid', 'groups', 'displayName', 'email']


def keypair(state):
    key, crt = f'{state}/idp-key.pem', f'{state}/idp-cert.pem'
    if not os.path.exists(crt):
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '365',
                        '-subj', '/CN=gatehouse-test-saml-idp', '-keyout', key, '-out', crt],
                       check=True, capture_output=True)
    return key, crt


def attribute_map_dir(state):
    # One `basic` map from every name to itself: <Attribute Name="mail" NameFormat="...:basic">.
    d = f'{state}/attributemaps'
    os.makedirs(d, exist_ok=True)
    m = {a: a for a in ATTRS}
    with open(f'{d}/basic.py', 'w') as f:
        f.write(f'MAP = {{"identifier": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic", '
                f'"fro": {m!r}, "to": {m!r}}}\n')
    return d


def make_idp(base, state):
    key, crt = keypair(state)
    conf = {
        'entityid': f'{base}/metadata',
        'service': {'idp': {
            'endpoints': {
                'single_sign_on_service': [(f'{base}/sso/redirect', BINDING_HTTP_REDIRECT),
                                           (f'{base}/sso/post', BINDING_HTTP_POST)],
                'single_logout_service': [(f'{base}/slo/redirect', BINDING_HTTP_REDIRECT)],
            },
            'name_id_format': [NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_UNSPECIFIED],
            'policy': {'default': {'lifetime': {'minutes': 5}, 'attribute_restrictions': None,
                                   'name_form': NAME_FORMAT_BASIC}},
            'want_authn_requests_signed': False,
        }},
        'key_file': key, 'cert_file': crt, 'xmlsec_binary': '/usr/bin/xmlsec1',
        'metadata': {},
        'allow_unknown_attributes': True,
        'attribute_map_dir': attribute_map_dir(state),
    }
    c = IdPConfig()
    c.load(conf)
    return Server(config=c), c


def read_metadata(source):
    if source.startswith(('http://', 'https://')):
        with urllib.request.urlopen(source, timeout=10) as r:
            return r.read().decode()
    with open(source) as f:
        return f.read()


class Idp:
    def __init__(self, base, state):
        self.base, self.state = base, state
        self.server, self.conf = make_idp(base, state)
        self.pending = {}   # login form key -> (request id, sp, acs, relay state)
        self.sessions = {}  # user -> sp -> (name_id, session_index)
        self.logouts = []   # the LogoutRequests SPs sent: {sp, name_id, session_index, signed}
        # Requests are served on threads; pysaml2's state and the assertion-id override are not
        # made for that.
        self.lock = threading.RLock()

    def trust(self, xml):
        with self.lock:
            self.server.metadata.load('inline', xml)

    def known_acs(self, sp):
        try:
            return [s['location'] for s in self.server.metadata.assertion_consumer_service(sp, BINDING_HTTP_POST)]
        except Exception:
            return []

    def signed_response(self, user, acs, audience, in_response_to=None, attrs=None, assertion_id=None,
                        nameid=None):
        with self.lock:
            return self._signed_response(user, acs, audience, in_response_to, attrs, assertion_id, nameid)

    def _signed_response(self, user, acs, audience, in_response_to, attrs, assertion_id, nameid):
        u = USERS.get(user, {'nameid': user, 'attrs': {}})
        name_id = NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=nameid or u['nameid'])
        original = saml2.assertion.assertion_factory
        if assertion_id:
            # The replay tests need a second, otherwise valid, Response reusing an assertion ID.
            def forced(**kwargs):
                a = original(**kwargs)
                a.id = assertion_id
                return a
            saml2.assertion.assertion_factory = forced
        try:
            xml = str(self.server.create_authn_response(
                identity=attrs if attrs is not None else u['attrs'], in_response_to=in_response_to,
                destination=acs, sp_entity_id=audience, userid=name_id.text, name_id=name_id,
                authn={'class_ref': PASSWORD, 'authn_auth': self.conf.entityid},
                sign_response=True, sign_assertion=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256))
        finally:
            saml2.assertion.assertion_factory = original
        index = re.search(r'SessionIndex="([^"]+)"', xml)
        self.sessions.setdefault(user, {})[audience] = (name_id.text, index.group(1) if index else None)
        return xml

    def logout_request(self, user, sp, sign=True):
        name_id, index = self.sessions.get(user, {}).get(sp, (None, None))
        if not name_id:
            return None
        slo = self.server.metadata.single_logout_service(sp, BINDING_HTTP_REDIRECT, 'spsso')
        if not slo:
            return None
        destination = slo[0]['location']
        req_id, req = self.server.create_logout_request(
            destination, self.conf.entityid,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=name_id),
            session_indexes=[index] if index else None, sign=False)
        info = self.server.apply_binding(BINDING_HTTP_REDIRECT, str(req), destination, 'idp-logout',
                                         sign=sign, sigalg=SIG_RSA_SHA256)
        return dict(info['headers'])['Location']


def login_form(key, msg=''):
    return ('<!doctype html><title>Test IdP</title>'
            f'<p class="error">{html.escape(msg)}</p>'
            '<form method="post" action="/login">'
            f'<input type="hidden" name="key" value="{html.escape(key)}">'
            '<input name="username"><input name="password" type="password">'
            '<button type="submit">Sign in</button></form>')


def make_app(idp):
    def app(env, start):
        path, method = env['PATH_INFO'], env['REQUEST_METHOD']
        q = dict(urllib.parse.parse_qsl(env.get('QUERY_STRING', '')))
        body, multi = {}, []
        if method == 'POST':
            n = int(env.get('CONTENT_LENGTH') or 0)
            multi = urllib.parse.parse_qsl(env['wsgi.input'].read(n).decode())
            body = dict(multi)

        def reply(status, text, ctype='text/html; charset=utf-8', headers=()):
            start(status, [('Content-Type', ctype), ('Cache-Control', 'no-store'), *headers])
            return [text.encode()]

        try:
            if path == '/metadata':
                return reply('200 OK', create_metadata_string(None, config=idp.conf, sign=False).decode(),
                             'application/samlmetadata+xml')
            if path in ('/sso/redirect', '/sso/post'):
                redirect = path.endswith('redirect')
                p = q if redirect else body
                binding = BINDING_HTTP_REDIRECT if redirect else BINDING_HTTP_POST
                try:
                    req = idp.server.parse_authn_request(p['SAMLRequest'], binding).message
                except Exception as e:
                    return reply('400 Bad Request', f'bad AuthnRequest: {e}', 'text/plain')
                sp = req.issuer.text if req.issuer is not None else ''
                known = idp.known_acs(sp)
                acs = req.assertion_consumer_service_url or (known[0] if known else None)
                if not known:
                    return reply('403 Forbidden', f'unknown SP {sp}: load its metadata first', 'text/plain')
                if acs not in known:
                    return reply('403 Forbidden', f'ACS {acs} is not in the metadata of {sp}', 'text/plain')
                key = secrets.token_urlsafe(16)
                idp.pending[key] = (req.id, sp, acs, p.get('RelayState', ''))
                return reply('200 OK', login_form(key))
            if path == '/login' and method == 'POST':
                k = body.get('key', '')
                u = USERS.get(body.get('username', ''))
                if k not in idp.pending:
                    return reply('400 Bad Request', 'unknown or used login session', 'text/plain')
                if not u or not secrets.compare_digest(u['password'], body.get('password', '')):
                    return reply('401 Unauthorized', login_form(k, 'invalid username or password'))
                req_id, sp, acs, relay = idp.pending.pop(k)
                xml = idp.signed_response(body['username'], acs, sp, req_id,
                                          assertion_id=body.get('assertion_id') or None)
                page = idp.server.apply_binding(BINDING_HTTP_POST, xml, acs, relay, response=True)['data']
                return reply('200 OK', page)
            if path == '/slo/redirect':
                if 'SAMLResponse' in q:
                    resp = idp.server.parse_logout_request_response(q['SAMLResponse'], BINDING_HTTP_REDIRECT)
                    status = resp.response.status.status_code.value
                    return reply('200 OK', f'<!doctype html><title>Logged out</title><p id="status">{html.escape(status)}</p>')
                req = idp.server.parse_logout_request(q['SAMLRequest'], BINDING_HTTP_REDIRECT)
                sp = req.message.issuer.text
                name_id = req.message.name_id.text if req.message.name_id is not None else None
                indexes = [i.text for i in (req.message.session_index or [])]
                with idp.lock:
                    idp.logouts.append({'sp': sp, 'name_id': name_id, 'session_index': indexes,
                                        'signed': 'Signature' in q})
                    # SP-initiated logout ends the matching IdP session of that SP.
                    for user, by_sp in idp.sessions.items():
                        if by_sp.get(sp, (None, None))[0] == name_id and \
                                (not indexes or by_sp[sp][1] in indexes):
                            del by_sp[sp]
                slo = idp.server.metadata.single_logout_service(sp, BINDING_HTTP_REDIRECT, 'spsso')
                resp = idp.server.create_logout_response(req.message, [BINDING_HTTP_REDIRECT], sign=False)
                info = idp.server.apply_binding(BINDING_HTTP_REDIRECT, str(resp), slo[0]['location'],
                                                q.get('RelayState', ''), response=True, sign=True, sigalg=SIG_RSA_SHA256)
                return reply('303 See Other', '', headers=[('Location', dict(info['headers'])['Location'])])
            if path == '/idp-logout':
                location = idp.logout_request(q.get('user', ''), q.get('sp', ''), q.get('unsigned') != '1')
                if not location:
                    return reply('404 Not Found', 'no session of that user at that SP', 'text/plain')
                return reply('303 See Other', '', headers=[('Location', location)])
            if path == '/admin/trust' and method == 'POST':
                xml = body.get('xml') or read_metadata(body['url'])
                idp.trust(xml)
                return reply('200 OK', 'trusted\n', 'text/plain')
            if path == '/admin/emit' and method == 'POST':
                attrs = {}
                for k, v in multi:
                    if k == 'attr':
                        name, value = v.split('=', 1)
                        attrs.setdefault(name, []).append(value)
                xml = idp.signed_response(body['user'], body['acs'], body['audience'], body.get('in_response_to'),
                                          attrs or None, body.get('assertion_id'), body.get('nameid'))
                return reply('200 OK', base64.b64encode(xml.encode()).decode(), 'text/plain')
            if path == '/admin/sessions':
                return reply('200 OK', json.dumps(idp.sessions), 'application/json')
            if path == '/admin/logouts':
                return reply('200 OK', json.dumps(idp.logouts), 'application/json')
            return reply('404 Not Found', 'not found', 'text/plain')
        except Exception as e:  # a test peer: say what went wrong instead of a bare 500
            return reply('500 Internal Server Error', f'{type(e).__name__}: {e}', 'text/plain')
    return app


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('serve')
    s.add_argument('--port', type=int, required=True)
    s.add_argument('--state', required=True)
    s.add_argument('--pid-file')
    s.add_argument('--sp-metadata', action='append', default=[])
    a = ap.parse_args()
    os.makedirs(a.state, exist_ok=True)
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
    from socketserver import ThreadingMixIn

    class Threaded(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = 64  # tests log in side by side

    class Quiet(WSGIRequestHandler):
        def log_message(self, fmt, *args):
            sys.stderr.write('saml-idp: ' + fmt % args + '\n')

    base = f'http://127.0.0.1:{a.port}'
    idp = Idp(base, a.state)
    for source in a.sp_metadata:
        idp.trust(read_metadata(source))
    srv = make_server('127.0.0.1', a.port, make_app(idp), server_class=Threaded, handler_class=Quiet)
    if a.pid_file:
        with open(a.pid_file, 'w') as f:
            f.write(f'{os.getpid()}\n')
    print(f'saml idp {base} listening', flush=True)
    srv.serve_forever()


if __name__ == '__main__':
    main()
