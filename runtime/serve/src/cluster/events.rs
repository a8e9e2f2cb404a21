//! The messages between the service and its workers, as JSON.

use serde::{Deserialize, Serialize};

use crate::queue::{QueuedRun, RunKind};
use crate::store::{Denial, LogRow, RunCounts, RunEnd};

/// A run queued for the workers: a plain run, or the apply of an
/// approved plan (what-if runs, and runs with a sensitive input, stay in
/// the service).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunOrder {
    pub id: String,
    pub plugin: String,
    pub tenant: String,
    pub requested_by: String,
    pub inputs: Vec<(String, String)>,
    pub schedule: Option<String>,
    #[serde(default)]
    pub apply: Option<ApplyOrder>,
}

/// The approved plan an apply run sends, as its file's bytes (the worker
/// checks them against the approved SHA-256 before sending anything).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApplyOrder {
    pub plan_sha256: String,
    pub approved_by: String,
    pub plan: String,
}

impl RunOrder {
    pub fn of(run: &QueuedRun, plan: Option<String>) -> RunOrder {
        let apply = match (&run.kind, plan) {
            (RunKind::Apply { plan, approved_by }, Some(text)) => Some(ApplyOrder {
                plan_sha256: plan.clone(),
                approved_by: approved_by.clone(),
                plan: text,
            }),
            _ => None,
        };
        RunOrder {
            id: run.id.clone(),
            plugin: run.plugin.clone(),
            tenant: run.tenant.clone(),
            requested_by: run.requested_by.clone(),
            inputs: run.inputs.clone(),
            schedule: run.schedule.clone(),
            apply,
        }
    }
}

/// What a worker reports of one attempt at a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunEvent {
    pub run: String,
    pub worker: String,
    /// 1 for the first delivery of the run.
    pub attempt: u32,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Started {
        plugin_version: String,
        plugin_sha256: String,
    },
    Progress {
        counts: RunCounts,
        /// Writes whose outcome came back so far in this attempt.
        writes_done: i64,
        logs: Vec<LogRow>,
        denials: Vec<Denial>,
    },
    /// Recorded (and stored by NATS) before these writes are sent.
    Intent {
        calls: Vec<String>,
    },
    Ended {
        end: RunEnd,
    },
}

/// A run given up on, as the dead-letter stream keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeadRun {
    pub run: String,
    pub plugin: String,
    pub tenant: String,
    pub requested_by: String,
    pub worker: String,
    pub attempts: u32,
    pub reason: String,
}

/// What earlier attempts at a run reported, read before running it again.
#[derive(Debug, Default)]
pub struct Earlier {
    /// An attempt ended (its end is on record).
    pub ended: bool,
    /// Attempts that started, and the workers they ran on.
    pub started: Vec<(u32, String)>,
    /// Every write whose intent was recorded, in order.
    pub intents: Vec<String>,
    /// Of those, how many came back with an outcome (as last reported).
    pub writes_done: i64,
}

impl Earlier {
    /// Reads a run's events; ones not sealed with `key`, or unreadable,
    /// are skipped (a forged event must not make a run look ended).
    pub fn read(events: &[bytes::Bytes], key: &super::seal::QueueKey) -> Earlier {
        let mut earlier = Earlier::default();
        let mut done_by_attempt: std::collections::BTreeMap<u32, i64> = Default::default();
        for sealed in events {
            let Ok(raw) = key.open(super::seal::Kind::Event, sealed) else {
                continue;
            };
            let Ok(e) = serde_json::from_slice::<RunEvent>(raw) else {
                continue;
            };
            match e.event {
                Event::Started { .. } => earlier.started.push((e.attempt, e.worker)),
                Event::Progress { writes_done, .. } => {
                    done_by_attempt.insert(e.attempt, writes_done);
                }
                Event::Intent { calls } => earlier.intents.extend(calls),
                Event::Ended { .. } => earlier.ended = true,
            }
        }
        earlier.writes_done = done_by_attempt.values().sum();
        earlier
    }

    /// Why the run must not run again by itself, when it must not.
    pub fn needs_decision(&self) -> Option<String> {
        if self.intents.is_empty() {
            return None;
        }
        let unknown = (self.intents.len() as i64 - self.writes_done).max(0);
        let workers: Vec<String> = self
            .started
            .iter()
            .map(|(attempt, worker)| format!("attempt {attempt} on {worker}"))
            .collect();
        let mut listed: Vec<String> = self.intents.iter().take(20).cloned().collect();
        if self.intents.len() > 20 {
            listed.push(format!("and {} more", self.intents.len() - 20));
        }
        Some(format!(
            "the run stopped without an end on record ({}) after it recorded the intent of {} write(s), {} of them with an outcome; the outcome of {} is unknown. It is not run again by itself, which could send a write twice: check the tenant and start it again if needed. Writes intended: {}",
            workers.join(", "),
            self.intents.len(),
            self.writes_done.min(self.intents.len() as i64),
            unknown,
            listed.join("; ")
        ))
    }
}

/// A write as an operator recognises it: the cmdlet and its identity
/// (never other parameters, which may be sensitive).
pub fn describe(call: &exorun_cmdlet::Call) -> String {
    let identity = call.parameters.iter().find_map(|(name, value)| {
        match (name.eq_ignore_ascii_case("Identity"), value) {
            (true, exorun_cmdlet::Value::Text(text)) => Some(text.clone()),
            _ => None,
        }
    });
    match identity {
        Some(identity) => format!(
            "{} -Identity '{}'",
            call.cmdlet,
            identity
                .chars()
                .take(256)
                .collect::<String>()
                .escape_debug()
        ),
        None => call.cmdlet.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> crate::cluster::seal::QueueKey {
        let dir = tempfile::tempdir().unwrap();
        crate::cluster::seal::QueueKey::load_or_create(&dir.path().join("k"))
            .unwrap()
            .0
    }

    fn event(key: &crate::cluster::seal::QueueKey, attempt: u32, event: Event) -> bytes::Bytes {
        let body = serde_json::to_vec(&RunEvent {
            run: "r".into(),
            worker: format!("w{attempt}"),
            attempt,
            event,
        })
        .unwrap();
        key.seal(crate::cluster::seal::Kind::Event, &body).into()
    }

    #[test]
    fn a_run_that_recorded_a_write_intent_waits_for_an_operator() {
        let k = key();
        let events = [
            event(
                &k,
                1,
                Event::Started {
                    plugin_version: "1.0.0".into(),
                    plugin_sha256: "ab".into(),
                },
            ),
            event(
                &k,
                1,
                Event::Intent {
                    calls: vec!["Set-Mailbox -Identity 'a'".into()],
                },
            ),
            event(
                &k,
                1,
                Event::Progress {
                    counts: RunCounts::default(),
                    writes_done: 1,
                    logs: vec![],
                    denials: vec![],
                },
            ),
            event(
                &k,
                1,
                Event::Intent {
                    calls: vec!["Set-Mailbox -Identity 'b'".into()],
                },
            ),
            bytes::Bytes::from_static(b"not json"),
            // Forged: another key's end must not make the run look ended.
            event(
                &key(),
                1,
                Event::Ended {
                    end: crate::store::RunEnd::failed("x", String::new(), RunCounts::default()),
                },
            ),
        ];
        let earlier = Earlier::read(&events, &k);
        assert!(!earlier.ended);
        let why = earlier.needs_decision().unwrap();
        assert!(why.contains("attempt 1 on w1"), "{why}");
        assert!(
            why.contains(
                "intent of 2 write(s), 1 of them with an outcome; the outcome of 1 is unknown"
            ),
            "{why}"
        );
        assert!(
            why.contains("Set-Mailbox -Identity 'a'; Set-Mailbox -Identity 'b'"),
            "{why}"
        );
    }

    #[test]
    fn a_run_without_write_intents_may_run_again() {
        let k = key();
        let events = [event(
            &k,
            1,
            Event::Started {
                plugin_version: "1.0.0".into(),
                plugin_sha256: "ab".into(),
            },
        )];
        let earlier = Earlier::read(&events, &k);
        assert_eq!(earlier.started, vec![(1, "w1".to_owned())]);
        assert!(earlier.needs_decision().is_none());
    }

    #[test]
    fn describes_a_write_by_cmdlet_and_identity_only() {
        let mut call = exorun_cmdlet::Call::new("Set-Mailbox");
        call.parameters.push((
            "Identity".into(),
            exorun_cmdlet::Value::Text("ann@contoso.com".into()),
        ));
        call.parameters.push((
            "Password".into(),
            exorun_cmdlet::Value::Text("hunter2".into()),
        ));
        assert_eq!(describe(&call), "Set-Mailbox -Identity 'ann@contoso.com'");
    }
}
