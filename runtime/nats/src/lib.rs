//! exorun across machines, on NATS JetStream.
//!
//! The tenant throttles the app as a whole, so every client of one tenant
//! and app, on whatever machine, must pace against one schedule.
//! [`NatsPace`] keeps that schedule (the limiter's [`PaceState`]) in a
//! JetStream key-value bucket and changes it by compare-and-swap, the
//! multi-machine counterpart of the file the CLI's processes share on one
//! machine. When NATS cannot be reached a client paces on its own state,
//! says so once, and tries NATS again a second later: a NATS outage slows
//! nobody down by more than one short wait.
//!
//! [`PaceState`]: exorun_exchange::client::limiter::pace::PaceState

#![forbid(unsafe_code)]

pub mod lease;
mod link;
mod pace;
pub mod work;

pub use lease::Lease;
pub use link::{LinkError, NatsLink};
pub use pace::{NatsPace, NatsPaceMaker, PACE_BUCKET};
pub use work::{Delivery, Work, WorkError};

/// Connects to `url` as `name`, retrying in the background when the server
/// is not up yet (callers bound each operation with a timeout).
pub(crate) async fn connect(url: &str, name: &str) -> Result<async_nats::Client, WorkError> {
    async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(std::time::Duration::from_secs(5))
        .retry_on_initial_connect()
        .connect(url)
        .await
        .map_err(|e| WorkError::Connect {
            url: url.to_owned(),
            message: e.to_string(),
        })
}

/// Opens a key-value bucket, making it when missing. The bucket's stream
/// is made here as the client library's own bucket creation makes it, but
/// without its account query: that answer's shape changed after the NATS
/// 2.9 that Debian ships.
pub(crate) async fn open_bucket(
    js: &async_nats::jetstream::Context,
    bucket: &str,
    description: &str,
    storage: async_nats::jetstream::stream::StorageType,
    max_age: std::time::Duration,
) -> Result<async_nats::jetstream::kv::Store, String> {
    if let Ok(store) = js.get_key_value(bucket).await {
        return Ok(store);
    }
    use async_nats::jetstream::stream;
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.to_owned()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("creating the key-value bucket {bucket}: {e}"))?;
    js.get_key_value(bucket)
        .await
        .map_err(|e| format!("opening the key-value bucket {bucket}: {e}"))
}

/// Checks a NATS server URL as given in a flag or a config file: a host
/// and port, with `nats://` or `tls://` or no scheme. A user or password in
/// it is refused: it would show in the process list, in logs and in error
/// messages (NATS authentication is not supported yet).
pub fn check_url(text: &str) -> Result<(), String> {
    let invalid = || {
        format!(
            "'{}' is not a NATS server URL like nats://127.0.0.1:4222",
            text.escape_default()
        )
    };
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let rest = match text.split_once("://") {
        Some(("nats" | "tls", rest)) => rest,
        Some(_) => return Err(invalid()),
        None => text,
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(
            "the NATS URL must not carry a user or password: it would show in the process list and in logs (NATS authentication is not supported yet)"
                .to_owned(),
        );
    }
    if authority.is_empty() {
        return Err(invalid());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn accepts_host_and_port_and_refuses_credentials_and_other_schemes() {
        for good in [
            "nats://127.0.0.1:4222",
            "tls://nats.contoso.com:4222",
            "localhost:4222",
        ] {
            check_url(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in ["", "http://nats:4222", "nats://", "nats://a b:4222"] {
            assert!(
                check_url(bad)
                    .unwrap_err()
                    .contains("is not a NATS server URL"),
                "{bad}"
            );
        }
        for secret in ["nats://user:hunter2@nats:4222", "nats://token@nats:4222"] {
            let error = check_url(secret).unwrap_err();
            assert!(
                error.contains("must not carry a user or password"),
                "{error}"
            );
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
