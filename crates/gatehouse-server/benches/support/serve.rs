//! Servers a bench starts on loopback: Gatehouse as `gatehouse serve` runs it, or a bare axum
//! router (a baseline).

use std::future::Future;
use std::sync::Arc;

use gatehouse_server::Gatehouse;
use tokio::sync::oneshot;

/// A server running in this process; stops when [`Server::stop`] is called or when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Stops accepting, and waits until the requests in flight are answered.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Gatehouse's whole HTTP stack (`serve_on`: routes, edge headers, metrics, tracing).
pub async fn gatehouse(gatehouse: Arc<Gatehouse>) -> Server {
    start(|listener, stopped| async move {
        gatehouse_server::serve_on(gatehouse, listener, stopped)
            .await
            .expect("gatehouse serve");
    })
    .await
}

/// A bare axum router, served as `axum::serve` does.
pub async fn bare(app: axum::Router) -> Server {
    start(|listener, stopped| async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
            .expect("axum serve");
    })
    .await
}

async fn start<F, Fut>(serve: F) -> Server
where
    F: FnOnce(tokio::net::TcpListener, std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        Box::pin(async {
            let _ = stopped.await;
        }),
    ));
    Server { base, stop, task }
}
