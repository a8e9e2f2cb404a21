//! The simulator's own TLS: a throwaway CA and a server certificate for
//! `127.0.0.1`/`localhost`, so real clients verify the server with `ca.pem`
//! exactly as they would verify Microsoft's (msal and azure-identity refuse
//! plain `http://`, docs/protocol.md, "What real OAuth clients need of a test tenant").

use std::path::{Path, PathBuf};

use openssl::pkey::{PKey, PKeyRef, Private};
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::{X509, X509Ref};

use crate::certificates::{self, Profile};
use crate::error::{OpenSslContext, SimError};

/// The TLS acceptor plus where the CA a client must trust was written.
pub struct ServerTls {
    pub acceptor: SslAcceptor,
    pub ca_pem_path: PathBuf,
}

/// Creates the CA (or reuses the one an earlier start kept in
/// `state_dir`, so clients that trust its `ca.pem` keep working) and a
/// server certificate, writes `ca.pem`, and builds an acceptor that offers
/// HTTP/1.1 only.
pub fn create(state_dir: &Path) -> Result<ServerTls, SimError> {
    let ca_pem_path = state_dir.join("ca.pem");
    let ca_key_path = state_dir.join("ca-key.pem");
    let (ca_cert, ca_key) = match certificates::kept(&ca_pem_path, &ca_key_path) {
        Some(kept) => kept,
        None => {
            let key = certificates::new_p256().doing("generating the CA key")?;
            let cert = certificates::build("exorun simulator CA", &key, Profile::Authority, 365)
                .doing("building the CA certificate")?;
            let key_pem = key
                .private_key_to_pem_pkcs8()
                .doing("encoding the CA key")?;
            crate::files::write_private(&ca_key_path, &key_pem).map_err(|source| {
                SimError::Write {
                    path: ca_key_path.clone(),
                    source,
                }
            })?;
            (cert, key)
        }
    };
    let (server_cert, server_key) = server_certificate(&ca_cert, &ca_key, 365)?;

    let ca_pem = ca_cert.to_pem().doing("encoding the CA")?;
    crate::files::write_public(&ca_pem_path, &ca_pem).map_err(|source| SimError::Write {
        path: ca_pem_path.clone(),
        source,
    })?;

    let mut builder =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).doing("configuring TLS")?;
    builder
        .set_private_key(&server_key)
        .doing("loading the server key")?;
    builder
        .set_certificate(&server_cert)
        .doing("loading the server certificate")?;
    builder
        .add_extra_chain_cert(ca_cert)
        .doing("adding the CA to the chain")?;
    builder
        .check_private_key()
        .doing("checking the server key")?;
    // Only HTTP/1.1 is served; advertising it keeps ALPN clients honest.
    builder.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(b"\x08http/1.1", client)
            .ok_or(openssl::ssl::AlpnError::NOACK)
    });
    Ok(ServerTls {
        acceptor: builder.build(),
        ca_pem_path,
    })
}

/// PEM files of a private CA and a server certificate it signed for
/// `127.0.0.1`/`localhost`, for other loopback servers the tests start
/// (an OCI registry) that clients must verify as they verify the
/// simulator.
pub struct LoopbackTls {
    pub ca_pem: PathBuf,
    /// The server certificate followed by the CA.
    pub server_chain_pem: PathBuf,
    pub server_key_pem: PathBuf,
}

/// Writes a fresh CA and server certificate into `dir`.
pub fn write_loopback_tls(dir: &Path) -> Result<LoopbackTls, SimError> {
    let write = |name: &str, bytes: &[u8], private: bool| -> Result<PathBuf, SimError> {
        let path = dir.join(name);
        let written = if private {
            crate::files::write_private(&path, bytes)
        } else {
            crate::files::write_public(&path, bytes)
        };
        written.map_err(|source| SimError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    };
    let ca_key = certificates::new_p256().doing("generating the CA key")?;
    let ca_cert = certificates::build("exorun test CA", &ca_key, Profile::Authority, 30)
        .doing("building the CA certificate")?;
    let (server_cert, server_key) = server_certificate(&ca_cert, &ca_key, 30)?;
    let ca_pem = ca_cert.to_pem().doing("encoding the CA")?;
    let mut chain = server_cert.to_pem().doing("encoding the certificate")?;
    chain.extend_from_slice(&ca_pem);
    let key = server_key
        .private_key_to_pem_pkcs8()
        .doing("encoding the server key")?;
    Ok(LoopbackTls {
        ca_pem: write("ca.pem", &ca_pem, false)?,
        server_chain_pem: write("server.pem", &chain, false)?,
        server_key_pem: write("server-key.pem", &key, true)?,
    })
}

/// A P-256 server certificate for `127.0.0.1`/`localhost` signed by the CA.
fn server_certificate(
    ca_cert: &X509Ref,
    ca_key: &PKeyRef<Private>,
    valid_days: i64,
) -> Result<(X509, PKey<Private>), SimError> {
    let key = certificates::new_p256().doing("generating the server key")?;
    let cert = certificates::build(
        "localhost",
        &key,
        Profile::Server { ca_cert, ca_key },
        valid_days,
    )
    .doing("building the server certificate")?;
    Ok((cert, key))
}
