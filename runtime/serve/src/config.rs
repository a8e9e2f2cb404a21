//! `serve.toml`: what the service listens on, where it keeps its state,
//! which tenants it serves, how plugins are run and which schedules fire.
//! Read as strictly as a plugin manifest: an unknown key, a wrong type, a
//! cron expression that does not parse or a schedule naming an unknown
//! tenant stops the service before it starts, with the file and line.
//! `docs/serve.md` documents every key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::schedule::{CronSchedule, Overlap};

/// A problem with the config file, naming where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    listen: Option<Spanned<String>>,
    tls: Option<RawTls>,
    data_dir: Spanned<PathBuf>,
    plugins_dir: Option<PathBuf>,
    trust_policy: Option<PathBuf>,
    #[serde(default)]
    allow_unsigned_plugins: bool,
    pace_nats: Option<Spanned<String>>,
    queue: Option<Spanned<RawQueue>>,
    #[serde(default, rename = "registry")]
    registries: Vec<Spanned<RawRegistry>>,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default, rename = "tenant")]
    tenants: Vec<Spanned<RawTenant>>,
    #[serde(default, rename = "plugin")]
    plugins: Vec<Spanned<RawPlugin>>,
    #[serde(default, rename = "schedule")]
    schedules: Vec<Spanned<RawSchedule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawQueue {
    nats: String,
    ack_wait_seconds: Option<u64>,
    max_deliver: Option<u32>,
    lease_seconds: Option<u64>,
    key_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTls {
    certificate: PathBuf,
    key: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRegistry {
    host: String,
    #[serde(default)]
    plain_http: bool,
    ca: Option<PathBuf>,
    user: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAudit {
    log: Option<PathBuf>,
    rotate_megabytes: Option<Spanned<u64>>,
    #[serde(default)]
    stream: AuditStream,
    syslog_socket: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    max_concurrent_runs: Option<Spanned<u32>>,
    per_tenant: Option<Spanned<u32>>,
    per_plugin: Option<Spanned<u32>>,
    grace_seconds: Option<u64>,
    plan_expiry_hours: Option<Spanned<u64>>,
    keep_days: Option<Spanned<u64>>,
    session_hours: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTenant {
    name: String,
    profile: Option<String>,
    #[serde(default)]
    simulated: bool,
    sim_mailboxes: Option<usize>,
    sim_seed: Option<u64>,
    max_concurrent_runs: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPlugin {
    name: String,
    #[serde(default)]
    approval: Approval,
    max_concurrent_runs: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSchedule {
    name: String,
    plugin: String,
    tenant: String,
    cron: String,
    #[serde(default = "utc")]
    time_zone: String,
    #[serde(default)]
    overlap: Overlap,
    #[serde(default)]
    catch_up_minutes: u64,
    #[serde(default)]
    jitter_seconds: u64,
    #[serde(default)]
    inputs: BTreeMap<String, String>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn utc() -> String {
    "UTC".to_owned()
}

fn yes() -> bool {
    true
}

/// Whether a plugin's writes need a second person.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Approval {
    /// Runs send their writes as they go.
    #[default]
    None,
    /// Every run starts as a what-if run; its plan waits for an approver
    /// who is not the requester, and only that plan is then applied.
    TwoPerson,
}

/// Where audit records are copied as JSON lines, for a SIEM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditStream {
    #[default]
    None,
    /// One record per line on the service's standard output.
    Stdout,
    /// One datagram per record to the local syslog socket.
    Syslog,
}

/// The audit trail: where it is kept, when it rotates, where it streams.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    pub log: PathBuf,
    /// The active file is rotated into a segment once it is this large.
    pub rotate_bytes: u64,
    pub stream: AuditStream,
    pub syslog_socket: PathBuf,
}

/// The service's settings, validated.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub path: PathBuf,
    pub listen: SocketAddr,
    pub tls: Option<Tls>,
    pub data_dir: PathBuf,
    pub plugins_dir: PathBuf,
    /// Whose signatures admins may install plugins from.
    pub trust_policy: PathBuf,
    /// Whether an admin may consent to a plugin nobody signed.
    pub allow_unsigned_plugins: bool,
    /// The registries plugins may be installed from; the service reaches
    /// no other (an admin cannot make it fetch an arbitrary address).
    pub registries: Vec<RegistryConfig>,
    /// A NATS JetStream server through which every exorun (other services,
    /// `exorun run` on other machines) shares each tenant's budget.
    pub pace_nats: Option<String>,
    /// Runs go to `exorun worker`s through NATS JetStream instead of
    /// running in the service (`[queue]`).
    pub queue: Option<QueueConfig>,
    pub audit: AuditConfig,
    pub limits: Limits,
    pub tenants: Vec<TenantConfig>,
    pub plugins: Vec<PluginConfig>,
    pub schedules: Vec<ScheduleConfig>,
}

/// The run queue on NATS JetStream that workers take runs from.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    pub nats: String,
    pub delivery: exorun_nats::Delivery,
    /// How long the instance that fires schedules holds its lease without
    /// renewing it: how soon another takes over when it dies.
    pub lease: Duration,
    /// The key the service and the workers seal their messages with
    /// (`crate::cluster::seal`).
    pub key_file: PathBuf,
}

impl QueueConfig {
    /// The queue on `nats` with every other setting at its default.
    fn on(nats: &str, data_dir: &Path) -> QueueConfig {
        QueueConfig {
            nats: nats.to_owned(),
            delivery: exorun_nats::Delivery::default(),
            lease: Duration::from_secs(15),
            key_file: data_dir.join("queue.key"),
        }
    }
}

/// One registry plugins come from, and how to reach it.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// `host[:port]`, as references name it.
    pub host: String,
    pub settings: exorun_package::store::RegistrySettings,
}

#[derive(Clone, Debug)]
pub struct Tls {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Limits {
    /// Runs at once over all tenants.
    pub max_concurrent_runs: u32,
    /// Runs at once against one tenant, unless the tenant says otherwise.
    pub per_tenant: u32,
    /// Runs of one plugin at once, unless the plugin says otherwise.
    pub per_plugin: u32,
    /// How long a shutdown waits for runs to finish before ending them.
    pub grace: Duration,
    /// How long a plan waits for approval before it expires.
    pub plan_expiry: Duration,
    /// How long finished runs are kept in the history.
    pub keep: Duration,
    /// How long a dashboard session lasts.
    pub session: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_runs: 4,
            per_tenant: 2,
            per_plugin: 2,
            grace: Duration::from_secs(30),
            plan_expiry: Duration::from_secs(24 * 3600),
            keep: Duration::from_secs(90 * 86_400),
            session: Duration::from_secs(8 * 3600),
        }
    }
}

/// Where a tenant's connection comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantSource {
    /// A connection profile saved by `exorun connect --save-profile`.
    Profile(String),
    /// A simulated tenant started inside the service.
    Simulated { mailboxes: usize, seed: u64 },
}

#[derive(Clone, Debug)]
pub struct TenantConfig {
    pub name: String,
    pub source: TenantSource,
    pub max_concurrent_runs: u32,
    /// `None`: declared in serve.toml; else the admin who added it through
    /// the API (`user:ada`).
    pub added_by: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PluginConfig {
    pub name: String,
    pub approval: Approval,
    pub max_concurrent_runs: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct ScheduleConfig {
    pub name: String,
    pub plugin: String,
    pub tenant: String,
    pub cron: CronSchedule,
    pub overlap: Overlap,
    pub catch_up: Duration,
    pub jitter: Duration,
    pub inputs: BTreeMap<String, String>,
    pub enabled: bool,
}

impl ServeConfig {
    pub fn load(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        ServeConfig::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<ServeConfig, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let invalid = |span: std::ops::Range<usize>, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line: line_of(text, span.start),
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let relative = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };

        let tls = raw.tls.map(|t| Tls {
            certificate: relative(&t.certificate),
            key: relative(&t.key),
        });
        let listen = match &raw.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 8440)),
            Some(text) => text.get_ref().parse::<SocketAddr>().map_err(|_| {
                invalid(
                    text.span(),
                    format!(
                        "listen = \"{}\" is not an address and port (like \"127.0.0.1:8440\")",
                        text.get_ref()
                    ),
                )
            })?,
        };
        if !listen.ip().is_loopback() && tls.is_none() {
            let span = raw.listen.as_ref().map_or(0..0, |l| l.span());
            return Err(invalid(
                span,
                format!(
                    "listen = \"{listen}\" is reachable from other machines: add [tls] certificate and key, or listen on 127.0.0.1"
                ),
            ));
        }

        let defaults = Limits::default();
        let positive = |value: &Option<Spanned<u32>>, key: &str, default: u32| match value {
            None => Ok(default),
            Some(v) if *v.get_ref() == 0 => Err(invalid(
                v.span(),
                format!("[limits] {key} must be at least 1"),
            )),
            Some(v) => Ok(*v.get_ref()),
        };
        let hours =
            |value: &Option<Spanned<u64>>, key: &str, default: Duration, per: u64| match value {
                None => Ok(default),
                Some(v) if *v.get_ref() == 0 => Err(invalid(
                    v.span(),
                    format!("[limits] {key} must be at least 1"),
                )),
                Some(v) => Ok(Duration::from_secs(v.get_ref().saturating_mul(per))),
            };
        let limits = Limits {
            max_concurrent_runs: positive(
                &raw.limits.max_concurrent_runs,
                "max-concurrent-runs",
                defaults.max_concurrent_runs,
            )?,
            per_tenant: positive(&raw.limits.per_tenant, "per-tenant", defaults.per_tenant)?,
            per_plugin: positive(&raw.limits.per_plugin, "per-plugin", defaults.per_plugin)?,
            grace: raw
                .limits
                .grace_seconds
                .map_or(defaults.grace, Duration::from_secs),
            plan_expiry: hours(
                &raw.limits.plan_expiry_hours,
                "plan-expiry-hours",
                defaults.plan_expiry,
                3600,
            )?,
            keep: hours(&raw.limits.keep_days, "keep-days", defaults.keep, 86_400)?,
            session: hours(
                &raw.limits.session_hours,
                "session-hours",
                defaults.session,
                3600,
            )?,
        };

        let mut tenants: Vec<TenantConfig> = Vec::new();
        for spanned in &raw.tenants {
            let t = spanned.get_ref();
            let at = |message: String| invalid(spanned.span(), message);
            check_name(&t.name, "tenant").map_err(at)?;
            if tenants.iter().any(|o| o.name == t.name) {
                return Err(at(format!("[[tenant]] '{}' is declared twice", t.name)));
            }
            let source = match (&t.profile, t.simulated) {
                (Some(profile), false) => {
                    if t.sim_mailboxes.is_some() || t.sim_seed.is_some() {
                        return Err(at(format!(
                            "[[tenant]] '{}': sim-mailboxes and sim-seed are for a simulated tenant, not a profile",
                            t.name
                        )));
                    }
                    TenantSource::Profile(profile.clone())
                }
                (None, true) => TenantSource::Simulated {
                    mailboxes: t.sim_mailboxes.unwrap_or(50).clamp(1, 100_000),
                    seed: t.sim_seed.unwrap_or(1),
                },
                (Some(_), true) => {
                    return Err(at(format!(
                        "[[tenant]] '{}' has both profile and simulated = true; choose one",
                        t.name
                    )));
                }
                (None, false) => {
                    return Err(at(format!(
                        "[[tenant]] '{}' needs profile = \"<name>\" (a profile saved by `exorun connect --save-profile`) or simulated = true",
                        t.name
                    )));
                }
            };
            if t.max_concurrent_runs == Some(0) {
                return Err(at(format!(
                    "[[tenant]] '{}': max-concurrent-runs must be at least 1",
                    t.name
                )));
            }
            tenants.push(TenantConfig {
                name: t.name.clone(),
                source,
                max_concurrent_runs: t.max_concurrent_runs.unwrap_or(limits.per_tenant),
                added_by: None,
            });
        }

        let mut plugins: Vec<PluginConfig> = Vec::new();
        for spanned in &raw.plugins {
            let p = spanned.get_ref();
            let at = |message: String| invalid(spanned.span(), message);
            check_name(&p.name, "plugin").map_err(at)?;
            if plugins.iter().any(|o| o.name == p.name) {
                return Err(at(format!("[[plugin]] '{}' is declared twice", p.name)));
            }
            if p.max_concurrent_runs == Some(0) {
                return Err(at(format!(
                    "[[plugin]] '{}': max-concurrent-runs must be at least 1",
                    p.name
                )));
            }
            plugins.push(PluginConfig {
                name: p.name.clone(),
                approval: p.approval,
                max_concurrent_runs: p.max_concurrent_runs,
            });
        }

        let mut schedules: Vec<ScheduleConfig> = Vec::new();
        for spanned in &raw.schedules {
            let s = spanned.get_ref();
            let at = |message: String| invalid(spanned.span(), message);
            check_name(&s.name, "schedule").map_err(at)?;
            if schedules.iter().any(|o| o.name == s.name) {
                return Err(at(format!("[[schedule]] '{}' is declared twice", s.name)));
            }
            check_name(&s.plugin, "plugin").map_err(at)?;
            if !tenants.iter().any(|t| t.name == s.tenant) {
                return Err(at(format!(
                    "[[schedule]] '{}' names tenant '{}', which no [[tenant]] declares",
                    s.name, s.tenant
                )));
            }
            let cron = CronSchedule::parse(&s.cron, &s.time_zone)
                .map_err(|e| at(format!("[[schedule]] '{}': {e}", s.name)))?;
            schedules.push(ScheduleConfig {
                name: s.name.clone(),
                plugin: s.plugin.clone(),
                tenant: s.tenant.clone(),
                cron,
                overlap: s.overlap,
                catch_up: Duration::from_secs(s.catch_up_minutes.saturating_mul(60)),
                jitter: Duration::from_secs(s.jitter_seconds),
                inputs: s.inputs.clone(),
                enabled: s.enabled,
            });
        }

        let mut registries: Vec<RegistryConfig> = Vec::new();
        for spanned in &raw.registries {
            let r = spanned.get_ref();
            let at = |message: String| invalid(spanned.span(), message);
            let host = r.host.trim();
            let valid = !host.is_empty()
                && host.len() <= 255
                && host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                });
            if !valid {
                return Err(at(format!(
                    "[[registry]] host = \"{}\" must be a host name or address with an optional port, like \"registry.contoso.com\" or \"127.0.0.1:5000\"",
                    r.host.escape_default()
                )));
            }
            if registries.iter().any(|o| o.host == host) {
                return Err(at(format!("[[registry]] '{host}' is declared twice")));
            }
            if r.plain_http && !is_loopback_host(host) {
                return Err(at(format!(
                    "[[registry]] '{host}': plain-http is only for a registry on this machine (127.0.0.1, ::1 or localhost); reach others over HTTPS, with ca = \"<file>\" for a private CA"
                )));
            }
            if r.password_file.is_some() != r.user.is_some() {
                return Err(at(format!(
                    "[[registry]] '{host}': user and password-file go together"
                )));
            }
            registries.push(RegistryConfig {
                host: host.to_owned(),
                settings: exorun_package::store::RegistrySettings {
                    plain_http: r.plain_http,
                    ca: r.ca.as_deref().map(&relative),
                    user: r.user.clone(),
                    password_file: r.password_file.as_deref().map(&relative),
                },
            });
        }

        let queue = match &raw.queue {
            None => None,
            Some(q) => {
                let span = q.span();
                let q = q.get_ref();
                let url = q.nats.trim();
                exorun_nats::check_url(url)
                    .map_err(|e| invalid(span.clone(), format!("[queue] nats: {e}")))?;
                // What the file leaves out is the default.
                let mut queue = QueueConfig::on(url, &relative(raw.data_dir.get_ref()));
                let out_of = |what: &str| invalid(span.clone(), format!("[queue] {what}"));
                if let Some(seconds) = q.ack_wait_seconds {
                    if !(2..=3600).contains(&seconds) {
                        return Err(out_of("ack-wait-seconds must be between 2 and 3600"));
                    }
                    queue.delivery.ack_wait = Duration::from_secs(seconds);
                }
                if let Some(n) = q.max_deliver {
                    if !(1..=100).contains(&n) {
                        return Err(out_of("max-deliver must be between 1 and 100"));
                    }
                    queue.delivery.max_deliver = n;
                }
                if let Some(seconds) = q.lease_seconds {
                    if !(2..=600).contains(&seconds) {
                        return Err(out_of("lease-seconds must be between 2 and 600"));
                    }
                    queue.lease = Duration::from_secs(seconds);
                }
                if let Some(file) = &q.key_file {
                    queue.key_file = relative(file);
                }
                Some(queue)
            }
        };
        let pace_nats = match &raw.pace_nats {
            // The queue's NATS shares the tenant budgets too, unless told
            // otherwise: workers on many machines must pace as one.
            None => queue.as_ref().map(|q| q.nats.clone()),
            Some(url) => {
                let text = url.get_ref().trim();
                exorun_nats::check_url(text)
                    .map_err(|e| invalid(url.span(), format!("pace-nats: {e}")))?;
                Some(text.to_owned())
            }
        };

        let rotate_bytes = match &raw.audit.rotate_megabytes {
            None => 64 * 1024 * 1024,
            Some(mb) if *mb.get_ref() == 0 || *mb.get_ref() > 1024 * 1024 => {
                return Err(invalid(
                    mb.span(),
                    "[audit] rotate-megabytes must be between 1 and 1048576".to_owned(),
                ));
            }
            Some(mb) => mb.get_ref() * 1024 * 1024,
        };
        let data_dir = relative(raw.data_dir.get_ref());
        Ok(ServeConfig {
            path: path.to_owned(),
            listen,
            tls,
            plugins_dir: raw
                .plugins_dir
                .map(|p| relative(&p))
                .unwrap_or_else(|| data_dir.join("plugins")),
            trust_policy: raw
                .trust_policy
                .map(|p| relative(&p))
                .unwrap_or_else(|| data_dir.join("trust.toml")),
            allow_unsigned_plugins: raw.allow_unsigned_plugins,
            registries,
            pace_nats,
            queue,
            audit: AuditConfig {
                log: raw
                    .audit
                    .log
                    .map(|p| relative(&p))
                    .unwrap_or_else(|| data_dir.join("audit.jsonl")),
                rotate_bytes,
                stream: raw.audit.stream,
                syslog_socket: raw
                    .audit
                    .syslog_socket
                    .unwrap_or_else(|| PathBuf::from("/dev/log")),
            },
            data_dir,
            limits,
            tenants,
            plugins,
            schedules,
        })
    }

    /// `--nats URL`: the run queue on this server, the file's other
    /// `[queue]` settings kept (or their defaults). The tenant budgets
    /// follow it unless `pace-nats` names another server.
    pub fn set_queue_nats(&mut self, url: &str) -> Result<(), String> {
        let url = url.trim();
        exorun_nats::check_url(url).map_err(|e| format!("--nats: {e}"))?;
        let old = self.queue.as_ref().map(|q| q.nats.clone());
        if self.pace_nats.is_none() || self.pace_nats == old {
            self.pace_nats = Some(url.to_owned());
        }
        let default = QueueConfig::on(url, &self.data_dir);
        self.queue.get_or_insert(default).nats = url.to_owned();
        Ok(())
    }

    pub fn tenant(&self, name: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.name == name)
    }

    /// The plugin's settings; a plugin the config does not name gets the
    /// defaults (no approval, the service's per-plugin limit).
    pub fn plugin(&self, name: &str) -> PluginConfig {
        self.plugins
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .unwrap_or_else(|| PluginConfig {
                name: name.to_owned(),
                approval: Approval::None,
                max_concurrent_runs: None,
            })
    }

    /// The registry a reference's host names, if serve.toml declares it.
    pub fn registry(&self, host: &str) -> Option<&RegistryConfig> {
        self.registries.iter().find(|r| r.host == host)
    }

    pub fn history_path(&self) -> PathBuf {
        self.data_dir.join("history.sqlite")
    }

    pub fn plans_dir(&self) -> PathBuf {
        self.data_dir.join("plans")
    }

    pub fn outputs_dir(&self) -> PathBuf {
        self.data_dir.join("outputs")
    }
}

/// A host (with an optional port) on this machine.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Names of tenants, plugins and schedules end up in URLs, file names and
/// audit records: lower-case letters, digits, `-`, `_` and `.`, 1 to 64.
pub fn check_name(name: &str, what: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} name '{}' must be 1-64 lower-case letters, digits, '-', '_' or '.'",
            name.escape_debug()
        ))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(1, |before| {
        before.bytes().filter(|&b| b == b'\n').count() + 1
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ServeConfig, ConfigError> {
        ServeConfig::parse(Path::new("/etc/exorun/serve.toml"), text)
    }

    const BASE: &str =
        "data-dir = \"/var/lib/exorun\"\n[[tenant]]\nname = \"contoso\"\nsimulated = true\n";

    #[test]
    fn defaults_listen_on_loopback_and_keep_state_under_the_data_dir() {
        let config = parse(BASE).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8440");
        assert_eq!(config.plugins_dir, Path::new("/var/lib/exorun/plugins"));
        assert_eq!(config.audit.log, Path::new("/var/lib/exorun/audit.jsonl"));
        assert_eq!(config.audit.rotate_bytes, 64 * 1024 * 1024);
        assert_eq!(config.audit.stream, AuditStream::None);
        assert_eq!(
            config.tenants[0].source,
            TenantSource::Simulated {
                mailboxes: 50,
                seed: 1
            }
        );
    }

    #[test]
    fn reads_the_audit_table() {
        let config = parse(&format!(
            "{BASE}[audit]\nlog = \"trail/audit.jsonl\"\nrotate-megabytes = 8\nstream = \"syslog\"\nsyslog-socket = \"/run/systemd/journal/syslog\"\n"
        ))
        .unwrap();
        assert_eq!(config.audit.log, Path::new("/etc/exorun/trail/audit.jsonl"));
        assert_eq!(config.audit.rotate_bytes, 8 * 1024 * 1024);
        assert_eq!(config.audit.stream, AuditStream::Syslog);
        assert_eq!(
            config.audit.syslog_socket,
            Path::new("/run/systemd/journal/syslog")
        );
    }

    #[test]
    fn refuses_an_unknown_audit_stream_and_a_zero_rotation_size() {
        let err = parse(&format!("{BASE}[audit]\nstream = \"kafka\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `kafka`"), "{err}");
        assert!(err.contains("`stdout`"), "{err}");
        let err = parse(&format!("{BASE}[audit]\nrotate-megabytes = 0\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "/etc/exorun/serve.toml:6: [audit] rotate-megabytes must be between 1 and 1048576"
        );
    }

    #[test]
    fn rejects_unknown_keys_with_the_line() {
        let err = parse(&format!("{BASE}colour = \"blue\"\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown field `colour`"), "{text}");
        assert!(text.contains("line 5"), "{text}");
    }

    #[test]
    fn refuses_a_public_address_without_tls() {
        let err = parse(&format!("listen = \"0.0.0.0:8440\"\n{BASE}")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/exorun/serve.toml:1: listen = \"0.0.0.0:8440\" is reachable from other machines: add [tls] certificate and key, or listen on 127.0.0.1"
        );
    }

    #[test]
    fn refuses_an_invalid_cron_expression_naming_the_schedule() {
        let text = format!(
            "{BASE}[[schedule]]\nname = \"nightly\"\nplugin = \"report\"\ntenant = \"contoso\"\ncron = \"61 * * * *\"\n"
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "/etc/exorun/serve.toml:5: [[schedule]] 'nightly': cron \"61 * * * *\""
            ),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_schedule_for_an_undeclared_tenant() {
        let text = format!(
            "{BASE}[[schedule]]\nname = \"nightly\"\nplugin = \"report\"\ntenant = \"fabrikam\"\ncron = \"0 2 * * *\"\n"
        );
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "/etc/exorun/serve.toml:5: [[schedule]] 'nightly' names tenant 'fabrikam', which no [[tenant]] declares"
        );
    }

    #[test]
    fn refuses_a_tenant_with_no_connection() {
        let err = parse("data-dir = \"/x\"\n[[tenant]]\nname = \"contoso\"\n").unwrap_err();
        assert!(err.to_string().contains("needs profile = "), "{err}");
    }

    #[test]
    fn refuses_names_that_do_not_fit_a_url() {
        let err = parse("data-dir = \"/x\"\n[[tenant]]\nname = \"../etc\"\nsimulated = true\n")
            .unwrap_err();
        assert!(err.to_string().contains("tenant name '../etc'"), "{err}");
    }

    #[test]
    fn reads_registries_and_the_trust_policy_beside_the_config() {
        let config = parse(&format!(
            "trust-policy = \"keys/trust.toml\"\n{BASE}[[registry]]\nhost = \"127.0.0.1:5000\"\nplain-http = true\n[[registry]]\nhost = \"registry.contoso.com\"\nca = \"ca.pem\"\nuser = \"exorun\"\npassword-file = \"/run/secrets/registry\"\n"
        ))
        .unwrap();
        assert_eq!(
            config.trust_policy,
            Path::new("/etc/exorun/keys/trust.toml")
        );
        assert!(!config.allow_unsigned_plugins);
        let local = config.registry("127.0.0.1:5000").unwrap();
        assert!(local.settings.plain_http);
        let remote = config.registry("registry.contoso.com").unwrap();
        assert_eq!(
            remote.settings.ca.as_deref(),
            Some(Path::new("/etc/exorun/ca.pem"))
        );
        assert_eq!(remote.settings.user.as_deref(), Some("exorun"));
        assert!(config.registry("registry.contoso.com:443").is_none());
        let defaults = parse(BASE).unwrap();
        assert_eq!(defaults.trust_policy, defaults.data_dir.join("trust.toml"));
        assert!(defaults.registries.is_empty());
    }

    #[test]
    fn refuses_plain_http_to_another_machine_and_a_user_without_a_password_file() {
        for (registry, expected) in [
            (
                "host = \"registry.contoso.com\"\nplain-http = true",
                "plain-http is only for a registry on this machine",
            ),
            (
                "host = \"localhost:5000\"\nuser = \"exorun\"",
                "user and password-file go together",
            ),
            (
                "host = \"https://registry.contoso.com\"",
                "must be a host name or address",
            ),
            ("host = \"\"", "must be a host name or address"),
            (
                "host = \"r.example\"\npassword = \"hunter2\"",
                "unknown field `password`",
            ),
        ] {
            let err = parse(&format!("{BASE}[[registry]]\n{registry}\n")).unwrap_err();
            assert!(err.to_string().contains(expected), "{registry}: {err}");
        }
        for loopback in ["127.0.0.1:5000", "[::1]:5000", "localhost", "::1"] {
            parse(&format!(
                "{BASE}[[registry]]\nhost = \"{loopback}\"\nplain-http = true\n"
            ))
            .unwrap_or_else(|e| panic!("{loopback}: {e}"));
        }
        let err = parse(&format!(
            "{BASE}[[registry]]\nhost = \"r.example\"\n[[registry]]\nhost = \"r.example\"\n"
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("'r.example' is declared twice"),
            "{err}"
        );
    }

    #[test]
    fn reads_the_queue_and_shares_its_nats_for_pacing_unless_told_otherwise() {
        let config = parse(
            "data-dir = \"/d\"\n[queue]\nnats = \"nats://nats:4222\"\nack-wait-seconds = 10\nmax-deliver = 2\nlease-seconds = 5\n[[tenant]]\nname = \"contoso\"\nsimulated = true\n",
        )
        .unwrap();
        let queue = config.queue.unwrap();
        assert_eq!(queue.nats, "nats://nats:4222");
        assert_eq!(queue.delivery.ack_wait, Duration::from_secs(10));
        assert_eq!(queue.delivery.max_deliver, 2);
        assert_eq!(queue.lease, Duration::from_secs(5));
        assert_eq!(config.pace_nats.as_deref(), Some("nats://nats:4222"));
        let both = parse(
            "data-dir = \"/d\"\npace-nats = \"nats://pace:4222\"\n[queue]\nnats = \"nats://nats:4222\"\n[[tenant]]\nname = \"contoso\"\nsimulated = true\n",
        )
        .unwrap();
        assert_eq!(both.pace_nats.as_deref(), Some("nats://pace:4222"));
        let defaults = both.queue.unwrap();
        assert_eq!(defaults.delivery.ack_wait, Duration::from_secs(30));
        assert_eq!(defaults.delivery.max_deliver, 4);
        assert_eq!(defaults.lease, Duration::from_secs(15));
        for (bad, says) in [
            (
                "nats = \"http://x\"",
                "[queue] nats: 'http://x' is not a NATS server URL",
            ),
            (
                "nats = \"nats://u:hunter2@x:4222\"",
                "must not carry a user or password",
            ),
            (
                "nats = \"nats://x:4222\"\nack-wait-seconds = 1",
                "ack-wait-seconds must be between 2 and 3600",
            ),
            (
                "nats = \"nats://x:4222\"\nmax-deliver = 0",
                "max-deliver must be between 1 and 100",
            ),
            (
                "nats = \"nats://x:4222\"\nlease-seconds = 601",
                "lease-seconds must be between 2 and 600",
            ),
            ("nats = \"nats://x:4222\"\nmax-runs = 3", "unknown field"),
        ] {
            let err = parse(&format!(
                "data-dir = \"/d\"\n[queue]\n{bad}\n[[tenant]]\nname = \"contoso\"\nsimulated = true\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn the_nats_flag_sets_the_queue_and_refuses_credentials() {
        let mut config = parse(BASE).unwrap();
        config.set_queue_nats("nats://nats:4222").unwrap();
        let queue = config.queue.clone().unwrap();
        assert_eq!(queue.nats, "nats://nats:4222");
        assert_eq!(queue.key_file, Path::new("/var/lib/exorun/queue.key"));
        assert_eq!(config.pace_nats.as_deref(), Some("nats://nats:4222"));
        let err = config
            .set_queue_nats("nats://ops:hunter2@nats:4222")
            .unwrap_err();
        assert!(
            err.starts_with("--nats: the NATS URL must not carry"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let mut paced = parse(&format!("pace-nats = \"nats://pace:4222\"\n{BASE}")).unwrap();
        paced.set_queue_nats("nats://nats:4222").unwrap();
        assert_eq!(paced.pace_nats.as_deref(), Some("nats://pace:4222"));
    }

    #[test]
    fn reads_pace_nats_and_refuses_one_that_is_not_a_url() {
        let config = parse(&format!("pace-nats = \"nats://10.0.0.5:4222\"\n{BASE}")).unwrap();
        assert_eq!(config.pace_nats.as_deref(), Some("nats://10.0.0.5:4222"));
        assert_eq!(parse(BASE).unwrap().pace_nats, None);
        for bad in ["", "nats://a b:4222"] {
            let err = parse(&format!("pace-nats = \"{bad}\"\n{BASE}")).unwrap_err();
            assert!(
                err.to_string().contains("is not a NATS server URL"),
                "{err}"
            );
        }
        let err = parse(&format!(
            "pace-nats = \"nats://ops:hunter2@10.0.0.5:4222\"\n{BASE}"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("must not carry a user or password"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
