//! Where the service listens: plain HTTP on loopback, HTTPS (OpenSSL, with
//! the certificate serve.toml names) anywhere else. TLS handshakes run in
//! their own tasks with a deadline, so a client that connects and says
//! nothing holds up nobody.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod};
use tokio::net::{TcpListener, TcpStream};
use tokio_openssl::SslStream;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS settings from serve.toml, loaded (and checked) before binding.
pub fn acceptor(certificate: &Path, key: &Path) -> anyhow::Result<SslAcceptor> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    builder
        .set_certificate_chain_file(certificate)
        .map_err(|e| {
            anyhow::anyhow!("reading the TLS certificate {}: {e}", certificate.display())
        })?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| anyhow::anyhow!("reading the TLS key {}: {e}", key.display()))?;
    builder.check_private_key().map_err(|e| {
        anyhow::anyhow!(
            "the TLS key {} does not belong to the certificate {}: {e}",
            key.display(),
            certificate.display()
        )
    })?;
    Ok(builder.build())
}

/// Accepted connections whose TLS handshake finished.
pub struct TlsListener {
    local: SocketAddr,
    ready: tokio::sync::mpsc::Receiver<(SslStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    fn new(listener: TcpListener, acceptor: SslAcceptor) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let acceptor = std::sync::Arc::new(acceptor);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let tx = tx.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(ssl) = Ssl::new(acceptor.context()) else {
                        return;
                    };
                    let Ok(mut stream) = SslStream::new(ssl, tcp) else {
                        return;
                    };
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, Pin::new(&mut stream).accept())
                        .await
                    {
                        Ok(Ok(())) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = SslStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept task ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The client's address, for login limits and audit records.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TcpListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// Serves `app` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<SslAcceptor>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<PeerAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
        Some(acceptor) => {
            axum::serve(
                TlsListener::new(listener, acceptor)?,
                app.into_make_service_with_connect_info::<PeerAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
    }
}
