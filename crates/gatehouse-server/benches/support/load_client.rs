//! The load generator's HTTP/1.1 client: one kept-alive connection per worker, each request
//! written in one piece and its response read to the end of its `Content-Length`, as wrk does.
//! A general client (reqwest: a pool, a connection task a request is handed to, header maps)
//! spends more of the two cores than the endpoints it drives, and the bench would then measure
//! its load generator as much as the broker.

use std::io::Write;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Connection {
    stream: TcpStream,
    host: String,
    /// Bytes read and not yet consumed: a response's start, or one that followed its body.
    read: Vec<u8>,
    request: Vec<u8>,
}

impl Connection {
    /// A connection to the host of `url` (`http://host:port/…`).
    pub async fn open(url: &str) -> Self {
        let (host, _) = split(url);
        let stream = TcpStream::connect(host).await.expect("connect");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Self {
            stream,
            host: host.to_owned(),
            read: Vec::with_capacity(4096),
            request: Vec::with_capacity(512),
        }
    }

    /// POSTs a JSON body to `path`; the response's status code (its body is read and dropped).
    pub async fn post_json(&mut self, path: &str, body: &[u8]) -> u16 {
        self.request.clear();
        write!(
            self.request,
            "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            self.host,
            body.len()
        )
        .expect("a Vec takes every write");
        self.request.extend_from_slice(body);
        self.exchange().await.0
    }

    /// GETs `path`; the response's status code and its body's length (the body is dropped).
    pub async fn get(&mut self, path: &str) -> (u16, usize) {
        self.request.clear();
        write!(
            self.request,
            "GET {path} HTTP/1.1\r\nhost: {}\r\n\r\n",
            self.host
        )
        .expect("a Vec takes every write");
        self.exchange().await
    }

    /// Sends the request built, reads its response: status and body length.
    async fn exchange(&mut self) -> (u16, usize) {
        self.stream
            .write_all(&self.request)
            .await
            .expect("write request");
        let (status, head, length) = loop {
            if let Some(parsed) = parse_head(&self.read) {
                break parsed;
            }
            self.fill().await;
        };
        while self.read.len() < head + length {
            self.fill().await;
        }
        self.read.drain(..head + length);
        (status, length)
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.expect("read response");
        assert!(n > 0, "load client: the server closed the connection");
        self.read.extend_from_slice(&chunk[..n]);
    }
}

/// The path of `url`, which requests to it name.
pub fn path_of(url: &str) -> String {
    split(url).1.to_owned()
}

/// `http://host:port/path` → (`host:port`, `/path`).
fn split(url: &str) -> (&str, &str) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("load client: `{url}` is not an http:// URL"));
    rest.split_at(rest.find('/').unwrap_or(rest.len()))
}

/// A complete response head in `buf`: its status, its length and its body's `Content-Length`.
fn parse_head(buf: &[u8]) -> Option<(u16, usize, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response
        .parse(buf)
        .expect("load client: a malformed response")
    {
        httparse::Status::Complete(head) => head,
        httparse::Status::Partial => return None,
    };
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .expect("load client: a response without a Content-Length");
    Some((response.code.expect("status"), head, length))
}
