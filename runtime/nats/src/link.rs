//! One connection to NATS, driven by its own thread and runtime, that
//! synchronous callers (the limiter's pacing store runs inside a lock, in
//! whatever runtime the caller has) reach through a channel and wait on
//! with a deadline.

use std::sync::mpsc;
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use tokio::sync::mpsc as async_mpsc;

/// How long after a failed connection the link waits before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long connecting and opening the bucket may take.
const OPEN_PATIENCE: Duration = Duration::from_secs(2);

/// Why a request to NATS did not get its answer.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("NATS did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("the value changed since it was read")]
    Conflict,
    #[error("NATS: {0}")]
    Nats(String),
    #[error("the NATS link has stopped")]
    Stopped,
}

/// A key's value and the revision to update it from (0: no value yet).
pub type Versioned = (Option<Bytes>, u64);

enum Request {
    Get {
        key: String,
        reply: mpsc::SyncSender<Result<Versioned, LinkError>>,
    },
    Update {
        key: String,
        value: Bytes,
        revision: u64,
        reply: mpsc::SyncSender<Result<u64, LinkError>>,
    },
}

/// A NATS connection and one key-value bucket, for synchronous callers.
#[derive(Clone)]
pub struct NatsLink {
    requests: async_mpsc::UnboundedSender<Request>,
    patience: Duration,
}

impl NatsLink {
    /// Starts the link's thread, which connects to `url` (and keeps trying,
    /// so a NATS started after exorun is found) and opens `bucket`,
    /// creating it in memory if missing. Requests wait at most `patience`.
    pub fn start(url: &str, bucket: &str, patience: Duration) -> std::io::Result<NatsLink> {
        let (requests, mut inbox) = async_mpsc::unbounded_channel::<Request>();
        let url = url.to_owned();
        let bucket = bucket.to_owned();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("exorun-nats".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut store: Option<kv::Store> = None;
                    let mut client: Option<async_nats::Client> = None;
                    // After a failed open, requests fail at once until
                    // this passes: a NATS that is down must not make each
                    // queued request wait for its own connection attempt.
                    let mut quiet_until: Option<tokio::time::Instant> = None;
                    while let Some(request) = inbox.recv().await {
                        if store.is_none() {
                            if quiet_until.is_some_and(|t| tokio::time::Instant::now() < t) {
                                request.fail(LinkError::Nats(
                                    "NATS was unreachable a moment ago".to_owned(),
                                ));
                                continue;
                            }
                            let opened = tokio::time::timeout(
                                patience.max(OPEN_PATIENCE),
                                open(&url, &bucket, &mut client),
                            )
                            .await
                            .unwrap_or_else(|_| Err("NATS did not answer".to_owned()));
                            match opened {
                                Ok(s) => {
                                    store = Some(s);
                                    quiet_until = None;
                                }
                                Err(e) => {
                                    quiet_until = Some(tokio::time::Instant::now() + RETRY_AFTER);
                                    request.fail(LinkError::Nats(e));
                                    continue;
                                }
                            }
                        }
                        let kv = store.as_ref().expect("opened above");
                        if !answer(kv, request, patience).await {
                            // Opened again on the next request: after a
                            // restart the bucket may have to be made anew.
                            store = None;
                        }
                    }
                });
            })?;
        Ok(NatsLink { requests, patience })
    }

    /// The key's value and revision.
    pub fn get(&self, key: &str) -> Result<Versioned, LinkError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Request::Get {
            key: key.to_owned(),
            reply,
        })?;
        self.wait(&answer)?
    }

    /// Writes `value` if the key is still at `revision`; its new revision.
    pub fn update(&self, key: &str, value: Bytes, revision: u64) -> Result<u64, LinkError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Request::Update {
            key: key.to_owned(),
            value,
            revision,
            reply,
        })?;
        self.wait(&answer)?
    }

    fn send(&self, request: Request) -> Result<(), LinkError> {
        self.requests.send(request).map_err(|_| LinkError::Stopped)
    }

    fn wait<T>(&self, answer: &mpsc::Receiver<T>) -> Result<T, LinkError> {
        answer.recv_timeout(self.patience).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => LinkError::TimedOut(self.patience),
            mpsc::RecvTimeoutError::Disconnected => LinkError::Stopped,
        })
    }
}

/// Answers one request, each NATS operation bounded by `patience`;
/// whether the bucket handle is still good.
async fn answer(kv: &kv::Store, request: Request, patience: Duration) -> bool {
    match request {
        Request::Get { key, reply } => {
            let answer = match tokio::time::timeout(patience, kv.entry(key)).await {
                Err(_) => Err(LinkError::TimedOut(patience)),
                Ok(Ok(Some(entry))) if entry.operation == kv::Operation::Put => {
                    Ok((Some(entry.value), entry.revision))
                }
                Ok(Ok(Some(entry))) => Ok((None, entry.revision)),
                Ok(Ok(None)) => Ok((None, 0)),
                Ok(Err(e)) => Err(LinkError::Nats(e.to_string())),
            };
            let good = answer.is_ok();
            let _ = reply.try_send(answer);
            good
        }
        Request::Update {
            key,
            value,
            revision,
            reply,
        } => {
            let answer = match tokio::time::timeout(patience, kv.update(key, value, revision)).await
            {
                Err(_) => Err(LinkError::TimedOut(patience)),
                Ok(Ok(revision)) => Ok(revision),
                Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    Err(LinkError::Conflict)
                }
                Ok(Err(e)) => Err(LinkError::Nats(e.to_string())),
            };
            let good = matches!(answer, Ok(_) | Err(LinkError::Conflict));
            let _ = reply.try_send(answer);
            good
        }
    }
}

impl Request {
    fn fail(self, error: LinkError) {
        match self {
            Request::Get { reply, .. } => {
                let _ = reply.try_send(Err(error));
            }
            Request::Update { reply, .. } => {
                let _ = reply.try_send(Err(error));
            }
        }
    }
}

/// Connects (once; the client reconnects by itself afterwards) and opens
/// the bucket.
async fn open(
    url: &str,
    bucket: &str,
    client: &mut Option<async_nats::Client>,
) -> Result<kv::Store, String> {
    if client.is_none() {
        let connected = async_nats::ConnectOptions::new()
            .name("exorun")
            .connection_timeout(OPEN_PATIENCE)
            .connect(url)
            .await
            .map_err(|e| format!("connecting to {url}: {e}"))?;
        *client = Some(connected);
    }
    let js = async_nats::jetstream::new(client.clone().expect("connected above"));
    crate::open_bucket(
        &js,
        bucket,
        "exorun: shared state of the tenant limiters",
        async_nats::jetstream::stream::StorageType::Memory,
        std::time::Duration::ZERO,
    )
    .await
}
