// The scripted browser of the relying-party scripts (openid_client_flow.mjs,
// openid_client_broker.mjs): a cookie jar, manual redirects, and just enough HTML to find forms.

// A cookie jar (name -> value, no domain or path logic: the scripts talk to Gatehouse, and to an
// upstream on another loopback port whose cookie names differ) and manual redirects.
export class Browser {
  constructor() {
    this.jar = new Map();
  }

  async request(url, init = {}) {
    const headers = new Headers(init.headers || {});
    if (this.jar.size) headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const gone = attrs.some((a) => {
        const [k, v = ''] = a.split('=').map((s) => s.trim());
        return (k.toLowerCase() === 'max-age' && Number(v) <= 0) ||
          (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now());
      });
      if (gone || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }
}

export function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos|#39);/gi, (m, e) => {
    const l = e.toLowerCase();
    if (l === 'amp') return '&';
    if (l === 'lt') return '<';
    if (l === 'gt') return '>';
    if (l === 'quot') return '"';
    if (l === 'apos' || l === '#39') return "'";
    if (l.startsWith('#x')) return String.fromCodePoint(parseInt(l.slice(2), 16));
    return String.fromCodePoint(parseInt(l.slice(1), 10));
  });
}

export function attributes(tag) {
  const out = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  let m;
  const inner = tag.replace(/^<\w+/, '').replace(/\/?>$/, '');
  while ((m = re.exec(inner))) out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  return out;
}

// The POST forms of a page: their attributes and their inputs' attributes.
export function postForms(html) {
  return [...html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form>/gi)].map((f) => ({
    attrs: attributes(f[0].match(/<form\b[^>]*>/i)[0]),
    inputs: [...f[1].matchAll(/<input\b[^>]*>/gi)].map((m) => attributes(m[0])),
  })).filter((f) => (f.attrs.method || 'get').toLowerCase() === 'post');
}

export function pageText(html) {
  return html.replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ').trim().slice(0, 300);
}
