use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::Gatehouse;
use crate::error::ServerError;
use crate::routes;

/// Bind `server.listen` and serve until SIGTERM or Ctrl-C, finishing requests in flight.
pub async fn serve(gatehouse: Arc<Gatehouse>) -> Result<(), ServerError> {
    let addr = gatehouse.config.server.listen.clone();
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|source| ServerError::Listen { addr, source })?;
    serve_on(gatehouse, listener, shutdown_signal()).await
}

pub async fn serve_on(
    gatehouse: Arc<Gatehouse>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let local = listener.local_addr().map_err(ServerError::Serve)?;
    tracing::info!(listen = %local, public_url = %gatehouse.config.server.public_url, "serving");
    axum::serve(listener, routes::router(gatehouse))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)?;
    tracing::info!("stopped");
    Ok(())
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
