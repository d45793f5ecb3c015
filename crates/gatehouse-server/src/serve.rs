use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::app::Gatehouse;
use crate::error::ServerError;
use crate::routes;

/// Bind `server.listen` and serve until SIGTERM or Ctrl-C, finishing requests in flight.
pub async fn serve(gatehouse: Arc<Gatehouse>) -> Result<(), ServerError> {
    // Supersession follows the configuration this instance starts with (DESIGN.md).
    crate::supersede::apply_all(&gatehouse).await?;
    let addr = gatehouse.config.server.listen.clone();
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|source| ServerError::Listen { addr, source })?;
    print!("{}", next_steps(&gatehouse));
    serve_on(gatehouse, listener, shutdown_signal()).await
}

/// What a person opens next, on stdout (the logs go to stderr): each realm's account page and
/// the discovery document applications are configured with.
pub fn next_steps(gatehouse: &Gatehouse) -> String {
    let base = gatehouse.config.server.public_url.trim_end_matches('/');
    let mut text = format!("Gatehouse is serving {base}\n");
    for realm in gatehouse.realms() {
        text.push_str(&format!(
            "  realm {name}:\n    account page  {base}/realms/{name}/account\n    discovery     {base}/realms/{name}/.well-known/openid-configuration\n",
            name = realm.name
        ));
    }
    text.push_str(
        "No account yet? Create the administrator: gatehouse admin bootstrap --realm REALM admin\n",
    );
    text
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
///
/// The connection limits of `[server]` are hyper's and tower-http's own settings, applied here:
/// hyper reads each request head within `keep_alive_timeout_s` (its clock also runs while a
/// kept-alive connection waits for its next request), a new connection whose first request has not
/// begun within `header_read_timeout_s` is dropped, `edge` gives every body `body_read_timeout_s`,
/// and at most `max_connections` are served at once (the next accept waits for a permit, so the
/// others queue in the kernel's backlog rather than in memory).
pub async fn serve_on(
    gatehouse: Arc<Gatehouse>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let local = listener.local_addr().map_err(ServerError::Serve)?;
    tracing::info!(listen = %local, public_url = %gatehouse.config.server.public_url, "serving");
    let settings = &gatehouse.config.server;
    let first_request = Duration::from_secs(settings.header_read_timeout_s);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(settings.keep_alive_timeout_s))
        .keep_alive(true);
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    let app = crate::edge::wrap(routes::router(gatehouse.clone()), &gatehouse);
    let metrics = crate::metrics::spawn_listener(&gatehouse).await?;
    let purge = tokio::spawn(purge_expired(gatehouse.store.clone()));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let began = Arc::new(AtomicBool::new(false));
        let service = {
            let began = began.clone();
            let app = app.clone();
            hyper::service::service_fn(move |mut request: Request<Incoming>| {
                began.store(true, Ordering::Relaxed);
                // The peer's address goes into the audit trail (`routes::peer`).
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(request.map(Body::new))
            })
        };
        // A lingering close, so a client still sending a body we answered early (413) reads the
        // answer instead of a reset.
        let stream = TokioIo::new(crate::linger::Lingering::new(stream));
        let connection = graceful.watch(http.serve_connection(stream, service));
        tokio::spawn(async move {
            let _permit = permit;
            tokio::select! {
                served = connection => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                // Dropping the connection closes its socket.
                () = no_request_within(first_request, &began) => {
                    tracing::debug!("connection closed: no complete request head in time");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    purge.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Completes after `limit` unless a request began by then; otherwise never.
async fn no_request_within(limit: Duration, began: &AtomicBool) {
    tokio::time::sleep(limit).await;
    if began.load(Ordering::Relaxed) {
        std::future::pending::<()>().await;
    }
}

/// Expired sessions, login transactions, codes and tokens would otherwise pile up in the store.
/// Every instance may run this: the deletes are idempotent.
async fn purge_expired(store: gatehouse_store::Store) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        // Before the purge: each flow that expired unfinished gets its audit event.
        match crate::flows::Flows::sweep_abandoned(&store, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(flows = n, "recorded abandoned authentication flows"),
            Err(e) => tracing::warn!(error = %e, "recording abandoned flows failed"),
        }
        match store.purge_expired(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "purged expired sessions, codes and tokens"),
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
