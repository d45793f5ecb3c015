//! A lingering close: after the last answer on a connection, read and discard what the client is
//! still sending before the socket is closed.
//!
//! A server that answers before reading the whole request (a 413 for a body over the limit, an
//! error on a half-read form) and then closes with unread bytes in its receive buffer makes the
//! kernel send a reset, not a FIN. The client then sees "connection reset" or "broken pipe" while
//! it is still writing, and may never read the answer that was already on its way. nginx and
//! Apache linger for the same reason. The wait is bounded in bytes and in time, so a client that
//! keeps sending cannot hold its connection (and its permit) for long.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Long enough for a client on a slow link to finish sending a body it had already begun.
const LINGER_TIME: Duration = Duration::from_secs(5);
/// A client that sends nothing for this long is not sending a body: an idle kept-alive
/// connection closed by a graceful shutdown, say, which must not hold the shutdown up.
const LINGER_IDLE: Duration = Duration::from_secs(1);
/// Well above the largest body a route accepts; a client sending more is not finishing a request.
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// A stream whose `poll_shutdown` sends the FIN, then drains what is left to read (until the
/// client closes, or `LINGER_IDLE` passes without data, or `LINGER_TIME` or `LINGER_BYTES` is
/// reached), so that closing it afterwards sends no reset.
pub struct Lingering<S> {
    inner: S,
    written_closed: bool,
    drained: usize,
    /// Set when the drain begins: the end of the whole wait, and the timer of the current one.
    drain: Option<(Instant, Pin<Box<Sleep>>)>,
    time: Duration,
    idle: Duration,
}

impl<S> Lingering<S> {
    pub fn new(inner: S) -> Self {
        Self::with_bounds(inner, LINGER_TIME, LINGER_IDLE)
    }

    fn with_bounds(inner: S, time: Duration, idle: Duration) -> Self {
        Self {
            inner,
            written_closed: false,
            drained: 0,
            drain: None,
            time,
            idle,
        }
    }
}

impl<S: AsyncRead + Unpin> Lingering<S> {
    /// Ready once the client has stopped sending (EOF or an error), or a bound is reached.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (time, idle) = (self.time, self.idle);
        let (end, timer) = self.drain.get_or_insert_with(|| {
            let end = Instant::now() + time;
            (
                end,
                Box::pin(tokio::time::sleep_until(end.min(Instant::now() + idle))),
            )
        });
        let mut scratch = [0u8; 8192];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => {
                    self.drained += buf.filled().len();
                    if self.drained >= LINGER_BYTES {
                        return Poll::Ready(());
                    }
                    timer.as_mut().reset((*end).min(Instant::now() + idle));
                }
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return timer.as_mut().poll(cx),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Lingering<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.written_closed {
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            self.written_closed = true;
        }
        ready!(self.poll_drain(cx));
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// The client writes a body the server never reads, after the server has answered and shut
    /// down: with the lingering close every byte is accepted and the answer arrives whole.
    #[tokio::test]
    async fn a_client_still_sending_gets_the_answer_not_a_reset() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut stream = Lingering::new(stream);
            let mut head = [0u8; 16];
            stream.read_exact(&mut head).await.unwrap();
            stream.write_all(b"too large").await.unwrap();
            stream.shutdown().await.unwrap();
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        // Far more than the socket buffers hold, so the writes outlast the server's answer.
        let body = vec![b'x'; 4 * 1024 * 1024];
        client.write_all(&body).await.unwrap();
        client.shutdown().await.unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert_eq!(answer, "too large");
        server.await.unwrap();
    }

    /// A client that keeps the connection open without sending is let go after the idle time;
    /// one that keeps sending, after the whole linger time.
    #[tokio::test]
    async fn the_wait_is_bounded_in_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (time, idle) = (Duration::from_millis(1500), Duration::from_millis(300));

        let _silent = TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let began = std::time::Instant::now();
        Lingering::with_bounds(stream, time, idle)
            .shutdown()
            .await
            .unwrap();
        let waited = began.elapsed();
        assert!(waited >= idle && waited < time, "silent client: {waited:?}");

        let mut chatty = TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let sender = tokio::spawn(async move {
            while chatty.write_all(b"x").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let began = std::time::Instant::now();
        Lingering::with_bounds(stream, time, idle)
            .shutdown()
            .await
            .unwrap();
        let waited = began.elapsed();
        assert!(
            waited >= time && waited < time * 4,
            "chatty client: {waited:?}"
        );
        sender.abort();
    }
}
