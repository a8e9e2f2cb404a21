//! Object scopes, enforced: a [`Backend`] in front of the tenant that lets
//! a scoped plugin's calls touch only the recipients its `[scope]` (and
//! the operator policy's `scope`) admit.
//!
//! For each call, by the cmdlet's entry in
//! [`exorun_policy::scope::targets`]:
//! - **targets** (writes and reads of one recipient): every target the
//!   call names is resolved with `Get-Recipient -Identity` through the same
//!   client (cached for the run) and must pass the scope, else the call is
//!   refused before it is sent. A target that cannot be resolved to exactly
//!   one recipient, a wildcard, or a call that names no target is refused.
//! - **lists**: the results are filtered to the recipients in scope (found
//!   once per run with `Get-Recipient -ResultSize Unlimited`), by `Guid`.
//! - **no recipient** (tenant settings): passed through.
//! - anything else is refused: exorun cannot tell what it would touch.
//!
//! Sitting in front of the backend, it scopes plain runs, what-if runs
//! (its reads go through to the tenant, the writes it admits are
//! captured) and `exorun apply` alike.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use exorun_cmdlet::{Backend, Call, CmdletError, Object, PageStream, Value};
use exorun_policy::Manifest;
use exorun_policy::scope::targets::{self, Reach};
use exorun_policy::scope::{Facts, Property, Scope};
use parking_lot::Mutex;
use serde_json::Value as Json;

/// A run's backend, scoped when its manifest has a scope.
pub struct Scoped {
    pub backend: Arc<dyn Backend>,
    /// The scope's lookups so far (`None`: no scope), for the call budget.
    pub lookups: Option<Arc<AtomicU64>>,
}

/// Puts a scope in front of `backend` when the manifest has one.
pub fn scoped(backend: Arc<dyn Backend>, manifest: &Manifest) -> Scoped {
    match manifest.grant::<Scope>() {
        Some(scope) if !scope.rules.is_empty() => {
            let scoped = ScopedBackend::new(backend, scope.clone());
            Scoped {
                lookups: Some(scoped.lookups.clone()),
                backend: Arc::new(scoped),
            }
        }
        _ => Scoped {
            backend,
            lookups: None,
        },
    }
}

/// The scope of one run in front of its backend.
pub struct ScopedBackend {
    inner: Arc<dyn Backend>,
    scope: Scope,
    /// Reads made to resolve targets, list the scope and read groups.
    lookups: Arc<AtomicU64>,
    /// Identity (lowercase) → the recipient it resolved to, for the run.
    resolved: Mutex<HashMap<String, Result<Arc<Recipient>, CmdletError>>>,
    /// Group identity (lowercase) → the Guids of its members; `None` when
    /// the group could not be read.
    members: tokio::sync::OnceCell<HashMap<String, Option<HashSet<u128>>>>,
    /// Guids (lowercase) of every recipient in scope, for lists.
    in_scope: tokio::sync::OnceCell<Result<Arc<HashSet<u128>>, CmdletError>>,
}

/// One recipient as `Get-Recipient` returned it.
struct Recipient {
    object: Json,
    /// Its `Guid`, as a number: the in-scope set of a large tenant is
    /// kept per run, so it is kept small.
    guid: u128,
    /// How the recipient is named in messages (its primary address).
    shown: String,
}

/// A recipient's properties with the run's group memberships.
struct RecipientFacts<'a> {
    recipient: &'a Recipient,
    members: &'a HashMap<String, Option<HashSet<u128>>>,
}

impl Facts for RecipientFacts<'_> {
    fn value(&self, property: Property) -> Option<&str> {
        match self.recipient.object.get(property.name()) {
            Some(Json::String(s)) => Some(s),
            // Exchange prints an empty property as null.
            Some(Json::Null) => Some(""),
            _ => None,
        }
    }

    fn member_of(&self, group: &str) -> Option<bool> {
        let members = self.members.get(&group.to_lowercase())?.as_ref()?;
        Some(members.contains(&self.recipient.guid))
    }
}

impl ScopedBackend {
    pub fn new(inner: Arc<dyn Backend>, scope: Scope) -> ScopedBackend {
        ScopedBackend {
            inner,
            scope,
            lookups: Arc::new(AtomicU64::new(0)),
            resolved: Mutex::new(HashMap::new()),
            members: tokio::sync::OnceCell::new(),
            in_scope: tokio::sync::OnceCell::new(),
        }
    }

    async fn lookup(&self, call: Call) -> Result<Vec<Object>, CmdletError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        self.inner.invoke(&call).await
    }

    /// The members of every group the scope names, read once per run.
    async fn members(&self) -> &HashMap<String, Option<HashSet<u128>>> {
        self.members
            .get_or_init(|| async {
                let mut out = HashMap::new();
                for group in self.scope.groups() {
                    let call = Call::new("Get-DistributionGroupMember")
                        .param("Identity", group)
                        .param("ResultSize", "Unlimited");
                    let guids = self.lookup(call).await.ok().map(|objects| {
                        objects
                            .iter()
                            .filter_map(|o| guid_of(&serde_json::from_str(o).ok()?))
                            .collect()
                    });
                    out.insert(group.to_lowercase(), guids);
                }
                out
            })
            .await
    }

    /// Resolves one identity to exactly one recipient.
    async fn resolve(&self, identity: &str) -> Result<Arc<Recipient>, CmdletError> {
        let key = identity.trim().to_lowercase();
        if let Some(known) = self.resolved.lock().get(&key) {
            return known.clone();
        }
        let result = self.resolve_uncached(identity).await;
        self.resolved.lock().insert(key, result.clone());
        result
    }

    async fn resolve_uncached(&self, identity: &str) -> Result<Arc<Recipient>, CmdletError> {
        let call = Call::new("Get-Recipient").param("Identity", identity);
        let objects = match self.lookup(call).await {
            Ok(objects) => objects,
            Err(CmdletError::NotFound { .. }) => Vec::new(),
            Err(CmdletError::Ambiguous { .. }) => {
                return Err(unresolved(identity, "it names more than one recipient"));
            }
            Err(e) => return Err(e),
        };
        match objects.as_slice() {
            [one] => {
                let object: Json = serde_json::from_str(one).map_err(|e| CmdletError::Failed {
                    code: "ScopeLookup".into(),
                    message: format!("the tenant's answer to Get-Recipient is not JSON: {e}"),
                })?;
                let guid = guid_of(&object).ok_or_else(|| CmdletError::Failed {
                    code: "ScopeLookup".into(),
                    message: "the tenant's Get-Recipient answer has no Guid".into(),
                })?;
                let shown = object
                    .get("PrimarySmtpAddress")
                    .and_then(Json::as_str)
                    .map_or_else(|| uuid::Uuid::from_u128(guid).to_string(), str::to_owned);
                Ok(Arc::new(Recipient {
                    object,
                    guid,
                    shown,
                }))
            }
            [] => Err(unresolved(identity, "no recipient has it")),
            _ => Err(unresolved(identity, "it names more than one recipient")),
        }
    }

    /// Refuses the call unless the recipient `identity` names is in scope.
    async fn check_target(
        &self,
        call: &Call,
        parameter: &str,
        identity: &str,
    ) -> Result<(), CmdletError> {
        let rule = |kind: &str| format!("scope:{kind}:{}/{parameter}", call.cmdlet);
        let trimmed = identity.trim();
        if trimmed.is_empty() || trimmed.contains('*') {
            return Err(CmdletError::Denied {
                rule: rule("unresolved"),
                message: format!(
                    "{} -{parameter} '{identity}' does not name one recipient; a plugin with a [scope] must name each target exactly, without wildcards",
                    call.cmdlet
                ),
            });
        }
        let recipient = match self.resolve(trimmed).await {
            Ok(recipient) => recipient,
            Err(CmdletError::Denied { message, .. }) => {
                return Err(CmdletError::Denied {
                    rule: rule("unresolved"),
                    message: format!("{} -{parameter} {message}", call.cmdlet),
                });
            }
            Err(e) => return Err(e),
        };
        let facts = RecipientFacts {
            recipient: &recipient,
            members: self.members().await,
        };
        match self.scope.first_failed(&facts) {
            Ok(None) => Ok(()),
            Ok(Some(failed)) => Err(CmdletError::Denied {
                rule: rule("out-of-scope"),
                message: format!(
                    "{} -{parameter} '{identity}' is {}, outside the recipients this plugin may touch: {} requires {}",
                    call.cmdlet,
                    recipient.shown,
                    failed.who(),
                    failed.filter
                ),
            }),
            Err(undecided) => Err(CmdletError::Denied {
                rule: rule("unresolved"),
                message: format!(
                    "{} -{parameter} '{identity}' ({}) cannot be checked against the scope: {undecided}",
                    call.cmdlet, recipient.shown
                ),
            }),
        }
    }

    /// Refuses a membership change of a group the scope is defined by: the
    /// members added are not the call's target, so without this a plugin
    /// could add anyone to its own scope for its next run.
    async fn refuse_own_group_change(&self, call: &Call) -> Result<(), CmdletError> {
        let changes_members = [
            "Add-DistributionGroupMember",
            "Remove-DistributionGroupMember",
        ]
        .iter()
        .any(|c| c.eq_ignore_ascii_case(&call.cmdlet));
        if !changes_members {
            return Ok(());
        }
        let groups = self.scope.groups();
        if groups.is_empty() {
            return Ok(());
        }
        let Some(Value::Text(identity)) = call.get("Identity") else {
            return Ok(());
        };
        // The target passed the scope check, so it resolves.
        let target = self.resolve(identity.trim()).await?;
        for group in groups {
            let Ok(own) = self.resolve(group).await else {
                continue;
            };
            if own.guid == target.guid {
                return Err(CmdletError::Denied {
                    rule: format!("scope:own-scope-group:{}", call.cmdlet),
                    message: format!(
                        "{} -Identity '{identity}' would change the members of {}, a group this plugin's [scope] is defined by; a plugin may not widen its own scope",
                        call.cmdlet, target.shown
                    ),
                });
            }
        }
        Ok(())
    }

    /// The Guids of every recipient in scope, found once per run.
    async fn in_scope(&self) -> Result<Arc<HashSet<u128>>, CmdletError> {
        self.in_scope
            .get_or_init(|| async {
                let members = self.members().await;
                let call = Call::new("Get-Recipient").param("ResultSize", "Unlimited");
                self.lookups.fetch_add(1, Ordering::Relaxed);
                let mut pages = self.inner.open_pages(&call).await?;
                let mut guids = HashSet::new();
                while let Some(page) = pages.next_page().await? {
                    for text in page {
                        let Ok(object) = serde_json::from_str::<Json>(&text) else {
                            continue;
                        };
                        let Some(guid) = guid_of(&object) else {
                            continue;
                        };
                        let recipient = Recipient {
                            object,
                            guid,
                            shown: String::new(),
                        };
                        let facts = RecipientFacts {
                            recipient: &recipient,
                            members,
                        };
                        // Undecidable recipients stay out (fail closed).
                        if matches!(self.scope.first_failed(&facts), Ok(None)) {
                            guids.insert(recipient.guid);
                        }
                    }
                }
                Ok(Arc::new(guids))
            })
            .await
            .clone()
    }
}

#[async_trait]
impl Backend for ScopedBackend {
    async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
        match targets::reach(&call.cmdlet) {
            None => Err(CmdletError::Denied {
                rule: format!("scope:cmdlet-unscoped:{}", call.cmdlet),
                message: format!(
                    "{} is not in exorun's table of cmdlets whose target recipient it knows, so a plugin with a [scope] cannot call it (docs/scopes.md)",
                    call.cmdlet
                ),
            }),
            Some(Reach::NoRecipient) => self.inner.open_pages(call).await,
            Some(Reach::Targets(targets)) => {
                let mut named = 0;
                for target in targets {
                    let Some(value) = call.get(target.parameter()) else {
                        continue;
                    };
                    let text = match value {
                        Value::Text(s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        _ => {
                            return Err(CmdletError::Denied {
                                rule: format!(
                                    "scope:unresolved:{}/{}",
                                    call.cmdlet,
                                    target.parameter()
                                ),
                                message: format!(
                                    "{} -{} must name one recipient as text when the plugin has a [scope]",
                                    call.cmdlet,
                                    target.parameter()
                                ),
                            });
                        }
                    };
                    match target.identity(&text) {
                        Ok(None) => {}
                        Ok(Some(identity)) => {
                            named += 1;
                            self.check_target(call, target.parameter(), identity)
                                .await?;
                        }
                        Err(why) => {
                            return Err(CmdletError::Denied {
                                rule: format!(
                                    "scope:unresolved:{}/{}",
                                    call.cmdlet,
                                    target.parameter()
                                ),
                                message: format!(
                                    "{} -{} '{text}' does not name one mailbox: {why}",
                                    call.cmdlet,
                                    target.parameter()
                                ),
                            });
                        }
                    }
                }
                if named == 0 {
                    let parameters: Vec<String> = targets
                        .iter()
                        .map(|t| format!("-{}", t.parameter()))
                        .collect();
                    return Err(CmdletError::Denied {
                        rule: format!("scope:no-target:{}", call.cmdlet),
                        message: format!(
                            "{} names no recipient; a plugin with a [scope] must pass {}",
                            call.cmdlet,
                            parameters.join(" or ")
                        ),
                    });
                }
                self.refuse_own_group_change(call).await?;
                self.inner.open_pages(call).await
            }
            Some(Reach::Lists) => {
                let allowed = self.in_scope().await?;
                let pages = self.inner.open_pages(call).await?;
                Ok(Box::new(FilteredPages { pages, allowed }))
            }
        }
    }
}

/// A list read with every recipient outside the scope left out.
struct FilteredPages {
    pages: Box<dyn PageStream>,
    allowed: Arc<HashSet<u128>>,
}

#[async_trait]
impl PageStream for FilteredPages {
    async fn next_page(&mut self) -> Result<Option<Vec<Object>>, CmdletError> {
        let Some(page) = self.pages.next_page().await? else {
            return Ok(None);
        };
        Ok(Some(
            page.into_iter()
                .filter(|text| {
                    serde_json::from_str::<Json>(text)
                        .ok()
                        .and_then(|o| guid_of(&o))
                        .is_some_and(|g| self.allowed.contains(&g))
                })
                .collect(),
        ))
    }

    fn client_request_id(&self) -> Option<String> {
        self.pages.client_request_id()
    }
}

fn guid_of(object: &Json) -> Option<u128> {
    let text = object.get("Guid")?.as_str()?;
    uuid::Uuid::try_parse(text).ok().map(|g| g.as_u128())
}

fn unresolved(identity: &str, why: &str) -> CmdletError {
    CmdletError::Denied {
        rule: "scope:unresolved".into(),
        message: format!(
            "'{identity}' cannot be resolved to one recipient ({why}), so it cannot be checked against the scope"
        ),
    }
}
