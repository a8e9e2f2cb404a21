//! The accept loop: TLS by OpenSSL, HTTP/1.1 by hyper, routing by axum.
//! Written out (rather than `axum::serve`) so that each connection can be
//! dropped on purpose (the connection-reset fault), so that the peer
//! address reaches the handlers, and so that shutdown closes every
//! connection at once instead of waiting for requests in flight (a stalled
//! managed identity answer must not hold up `RunningSim::shutdown`). The
//! managed identity listener uses the same loop without TLS, as Azure's
//! identity endpoints are plain HTTP.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use openssl::ssl::{Ssl, SslAcceptor};
use tokio::net::TcpListener;
use tokio_openssl::SslStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Handed to every request of a connection (as an extension).
#[derive(Clone)]
pub struct ConnectionControl {
    pub peer: SocketAddr,
    kill: CancellationToken,
}

impl ConnectionControl {
    /// Closes the connection at once, without answering the request in
    /// progress. The client sees the connection end with no response.
    pub fn drop_connection(&self) {
        self.kill.cancel();
    }
}

/// A slow or silent client cannot hold a connection open forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves until `shutdown` is cancelled; then stops accepting and closes
/// every open connection. With `acceptor` the connections are HTTPS, else
/// plain HTTP.
pub async fn serve(
    listener: TcpListener,
    acceptor: Option<Arc<SslAcceptor>>,
    app: Router,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: back off briefly.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => serve_tls(tcp, peer, &acceptor, app, shutdown).await,
                None => serve_http(tcp, peer, app, shutdown).await,
            }
        });
    }
}

async fn serve_tls(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: &SslAcceptor,
    app: Router,
    shutdown: CancellationToken,
) {
    let Ok(ssl) = Ssl::new(acceptor.context()) else {
        return;
    };
    let Ok(mut stream) = SslStream::new(ssl, tcp) else {
        return;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, Pin::new(&mut stream).accept()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            return;
        }
        Err(_) => return,
    }
    serve_http(stream, peer, app, shutdown).await;
}

/// HTTP/1.1 on an accepted (and, for HTTPS, handshaken) connection.
async fn serve_http<I>(io: I, peer: SocketAddr, app: Router, shutdown: CancellationToken)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let control = ConnectionControl {
        peer,
        kill: CancellationToken::new(),
    };
    let kill = control.kill.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(control.clone());
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        }
        // Dropping the connection future closes the socket unanswered.
        _ = kill.cancelled() => {}
        _ = shutdown.cancelled() => {}
    }
}
