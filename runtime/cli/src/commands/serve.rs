//! `exorun serve`: the automation service (schedules, a queue, the HTTP
//! API and the dashboard) for a team, and the commands that manage its
//! people (`exorun serve user ...`). The service itself is the
//! exorun-serve crate; this is where it gets its connections (profiles and
//! simulated tenants, as `exorun run` makes them) and its signals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use exorun_sandbox::{CacheConfig, Sandbox, SandboxConfig};
use exorun_serve::config::{TenantConfig, TenantSource};
use exorun_serve::schedule::{AlwaysLeader, SystemClock};
use exorun_serve::store::{Role, Store};
use exorun_serve::tenants::{Connected, Connector};
use exorun_serve::{Parts, ServeConfig, Service};

use crate::operator_policy::{self, PolicyArgs};
use crate::tenant::{self, TenantArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The service's config file (see docs/serve.md).
    #[arg(long, value_name = "FILE", global = true, default_value = "serve.toml")]
    config: PathBuf,
    /// Check the config file and exit.
    #[arg(long)]
    check: bool,
    /// This instance's name, when several share one history through
    /// serve.toml's [queue] (default: the host name).
    #[arg(long)]
    instance: Option<String>,
    /// Queue runs for `exorun worker`s on this NATS JetStream server
    /// (nats://host:4222), as serve.toml's [queue] nats does.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Manage the people who use the service.
    #[command(subcommand)]
    User(UserCommand),
    /// Revoke an API token by its id.
    RevokeToken { id: String },
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Add a user (or change their role), print a new API token for them
    /// once, and with --password-file set their dashboard password.
    Add {
        name: String,
        /// viewer, operator, approver or admin.
        #[arg(long)]
        role: String,
        /// A file holding the dashboard password (at least 12 characters).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Do not make an API token.
        #[arg(long)]
        no_token: bool,
        /// The token expires after this many days.
        #[arg(long, value_name = "DAYS")]
        token_days: Option<u64>,
    },
    /// List users and their tokens (never the tokens themselves).
    List,
    /// Disable a user: their tokens are revoked and sessions ended.
    Disable { name: String },
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = ServeConfig::load(&args.config)?;
    if let Some(url) = &args.nats {
        config.set_queue_nats(url).map_err(anyhow::Error::msg)?;
    }
    if args.check {
        println!(
            "{}: ok ({} tenant(s), {} schedule(s), listening on {})",
            args.config.display(),
            config.tenants.len(),
            config.schedules.len(),
            config.listen
        );
        return Ok(ExitCode::SUCCESS);
    }
    match args.command {
        Some(Command::User(command)) => users(&config, command),
        Some(Command::RevokeToken { id }) => {
            let store = Store::open(&config.history_path())?;
            store.blocking(|c| exorun_serve::store::users::revoke_token(c, &id))?;
            println!("revoked API token {id}");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let instance = match args.instance {
                Some(name) => name,
                None => host_name(),
            };
            exorun_serve::config::check_name(&instance, "instance").map_err(anyhow::Error::msg)?;
            runtime.block_on(serve(config, instance))
        }
    }
}

fn users(config: &ServeConfig, command: UserCommand) -> anyhow::Result<ExitCode> {
    let store = Store::open(&config.history_path())?;
    match command {
        UserCommand::Add {
            name,
            role,
            password_file,
            no_token,
            token_days,
        } => {
            exorun_serve::config::check_name(&name, "user").map_err(anyhow::Error::msg)?;
            let Some(role) = Role::parse(&role) else {
                bail!("--role {role} is not one of viewer, operator, approver, admin");
            };
            let hash = match &password_file {
                Some(file) => {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("reading the password from {}", file.display()))?;
                    let password = text.trim_end_matches(['\r', '\n']);
                    Some(exorun_serve::auth::hash_password(password)?)
                }
                None => None,
            };
            store.blocking(|c| {
                exorun_serve::store::users::put_user(c, &name, role, hash.as_deref())
            })?;
            eprintln!("exorun: user {name} has the role {role}");
            if !no_token {
                let (token, digest) = exorun_serve::auth::new_token();
                let expires = token_days.map(|days| {
                    exorun_serve::store::time_text(
                        jiff::Timestamp::now()
                            .checked_add(jiff::SignedDuration::from_hours(24 * days as i64))
                            .unwrap_or(jiff::Timestamp::MAX),
                    )
                });
                let id = store.blocking(|c| {
                    exorun_serve::store::users::add_token(
                        c,
                        &name,
                        &digest,
                        "cli",
                        expires.as_deref(),
                    )
                })?;
                eprintln!("exorun: API token {id} (shown once; keep it in a secret store):");
                println!("{token}");
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::List => {
            let users = store.blocking(|c| exorun_serve::store::users::list_users(c))?;
            let tokens = store.blocking(|c| exorun_serve::store::users::list_tokens(c, None))?;
            for user in users {
                println!(
                    "{}\t{}{}",
                    user.name,
                    user.role,
                    if user.disabled { "\tdisabled" } else { "" }
                );
                for t in tokens.iter().filter(|t| t.user == user.name) {
                    let state = match (&t.revoked_at, &t.expires_at) {
                        (Some(at), _) => format!("revoked {at}"),
                        (None, Some(at)) => format!("expires {at}"),
                        (None, None) => "no expiry".to_owned(),
                    };
                    println!("  token {} ({state})", t.id);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Disable { name } => {
            store.blocking(|c| exorun_serve::store::users::disable_user(c, &name))?;
            println!("disabled {name}; their tokens are revoked and sessions ended");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Connections as `exorun run` makes them.
pub(crate) struct CliConnector {
    /// serve.toml's `pace-nats`: tenant budgets shared through NATS.
    pub(crate) pace_nats: Option<String>,
}

#[async_trait::async_trait]
impl Connector for CliConnector {
    async fn connect(&self, config: &TenantConfig) -> anyhow::Result<Connected> {
        let mut args = match &config.source {
            TenantSource::Profile(name) => TenantArgs::for_profile(name),
            TenantSource::Simulated { mailboxes, seed } => TenantArgs::simulated(*mailboxes, *seed),
        };
        args.pace_nats = self.pace_nats.clone();
        let tenant = tenant::connect(&args).await?;
        let policy = operator_policy::load(
            &PolicyArgs::default(),
            Some(tenant.connection.target_tenant()),
        )?;
        let details = vec![("connection".to_owned(), tenant.notice.clone())];
        Ok(Connected {
            target: tenant.target(),
            policy,
            details,
            live: Some(live_details(&tenant.connection)),
            keep_alive: Box::new(tenant),
        })
    }
}

/// The dashboard's view of a connection as it is now: the cached access
/// token's and the certificate's expiry, and what throttling it has met.
fn live_details(connection: &exorun_exchange::Connection) -> exorun_serve::tenants::LiveDetails {
    let client = connection.client();
    let certificate_expiry = connection.certificate().map(|c| c.not_after());
    Arc::new(move || {
        let now = std::time::SystemTime::now();
        let when = |t: std::time::SystemTime| {
            jiff::Timestamp::try_from(t)
                .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        out.push((
            "access token".to_owned(),
            match client.token_cache().cached() {
                Some(token) => {
                    let expires = token.expires_at_system();
                    let minutes = expires
                        .duration_since(now)
                        .map(|d| d.as_secs() / 60)
                        .unwrap_or(0);
                    format!("valid until {} (in {minutes} min)", when(expires))
                }
                None => "none cached (the next run signs in)".to_owned(),
            },
        ));
        if let Some(expires) = certificate_expiry {
            let days = expires
                .duration_since(now)
                .map(|d| d.as_secs() / 86_400)
                .unwrap_or(0);
            let warning = if expires <= now {
                " — EXPIRED: sign-ins fail; rotate it with `exorun cert rotate`"
            } else if days < exorun_exchange::EXPIRY_WARNING_DAYS {
                " — rotate it soon with `exorun cert rotate`"
            } else {
                ""
            };
            out.push((
                "certificate".to_owned(),
                format!("expires {} (in {days} days){warning}", when(expires)),
            ));
        }
        let limiter = client.limiter();
        out.push((
            "throttling".to_owned(),
            format!(
                "{} throttled answer(s) so far; {} call(s) at once allowed now",
                limiter.throttled(),
                limiter.concurrency()
            ),
        ));
        out
    })
}

/// The machine's name, lower-case, as instances and workers are named by
/// default.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_ascii_lowercase())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "exorun".to_owned())
}

async fn serve(config: ServeConfig, instance: String) -> anyhow::Result<ExitCode> {
    let tls = match &config.tls {
        Some(tls) => Some(exorun_serve::listen::acceptor(&tls.certificate, &tls.key)?),
        None => None,
    };
    let sandbox = Sandbox::new(SandboxConfig {
        max_concurrent_runs: config.limits.max_concurrent_runs,
        compile_cache: CacheConfig::user_default(),
        ..SandboxConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e:#}"))
    .context("starting the sandbox")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let grace = config.limits.grace;
    let pace_nats = config.pace_nats.clone();
    // With a [queue], instances sharing the history elect the one that
    // fires schedules.
    let lease = match &config.queue {
        Some(queue) => Some(
            exorun_nats::Lease::campaign(
                &queue.nats,
                exorun_serve::cluster::SCHEDULE_LEASE,
                &instance,
                queue.lease,
            )
            .await?,
        ),
        None => None,
    };
    let leader: Arc<dyn exorun_serve::schedule::Leader> = match &lease {
        Some(lease) => {
            let watched = lease.clone();
            let name = instance.clone();
            tokio::spawn(async move {
                loop {
                    watched.changed().await;
                    if watched.held() {
                        eprintln!("exorun serve: instance {name} fires the schedules now");
                    } else {
                        eprintln!("exorun serve: instance {name} no longer fires the schedules");
                    }
                }
            });
            Arc::new(exorun_serve::cluster::LeaseLeader(lease.clone()))
        }
        None => Arc::new(AlwaysLeader),
    };
    let clustered = config.queue.is_some();
    let service = Service::open(
        config,
        Parts {
            connector: Arc::new(CliConnector { pace_nats }),
            sandbox: Arc::new(sandbox),
            clock: Arc::new(SystemClock),
            leader,
            instance: clustered.then(|| instance.clone()),
        },
    )
    .await?;
    service.start();
    let state = exorun_serve::api::AppState {
        service: service.clone(),
        logins: Arc::default(),
        secure_cookies: tls.is_some(),
    };
    // Tests and scripts read the address from this line.
    println!("exorun serve: listening on {scheme}://{address}");
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let stopping = {
        let service = service.clone();
        tokio::spawn(async move {
            let signal = shutdown_signal().await;
            eprintln!(
                "exorun serve: {signal}: no new runs; running runs get {} s to finish",
                grace.as_secs()
            );
            if let Some(lease) = &lease {
                lease.stop();
            }
            service.shutdown(grace).await;
            let _ = stopped_tx.send(());
        })
    };
    exorun_serve::listen::serve(
        listener,
        tls,
        exorun_serve::api::router(state),
        async move {
            let _ = stopped_rx.await;
        },
    )
    .await
    .context("serving HTTP")?;
    let _ = stopping.await;
    eprintln!("exorun serve: stopped");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return "no signal handler",
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}
