//! `exorun connect`: signs in as the app, shows what the token grants, and
//! proves the connection with Get-OrganizationConfig; when something is
//! wrong, says what to fix in the app registration.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use exorun_cmdlet::Call;
use exorun_exchange::SignInForm;
use serde_json::json;

use crate::tenant::{self, TenantArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    tenant: TenantArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The Entra role template ids that matter to Exchange (docs/protocol.md, "Roles that matter to Exchange").
pub(crate) const ROLE_NAMES: &[(&str, &str)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
    ),
    (
        "31392ffb-586c-42d1-9346-e59415a2cc4e",
        "Exchange Recipient Administrator",
    ),
    (
        "17315797-102d-40b4-93e0-432062caca18",
        "Compliance Administrator",
    ),
    ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
    ("5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"),
];

/// Roles that let an app run Exchange cmdlets at all.
const EXCHANGE_CAPABLE: &[&str] = &[
    "Global Administrator",
    "Exchange Administrator",
    "Exchange Recipient Administrator",
    "Compliance Administrator",
    "Global Reader",
    "Helpdesk Administrator",
    "Security Reader",
];

const MANAGE_AS_APP: &str = "Exchange.ManageAsApp";

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(connect(args))
}

async fn connect(args: Args) -> anyhow::Result<ExitCode> {
    let tenant = tenant::connect(&args.tenant).await?;
    eprintln!("exorun: {}", tenant.notice);
    let certificate = tenant.connection.certificate();
    let claims = match tenant.connection.token_claims().await {
        Ok(claims) => claims,
        Err(e) => {
            eprintln!("exorun: sign-in failed: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let roles: Vec<String> = claims
        .wids
        .iter()
        .map(|id| {
            ROLE_NAMES
                .iter()
                .find(|(rid, _)| rid.eq_ignore_ascii_case(id))
                .map_or_else(
                    || format!("unknown role {id}"),
                    |(_, name)| (*name).to_owned(),
                )
        })
        .collect();
    let mut problems = Vec::new();
    if !claims.roles.iter().any(|r| r == MANAGE_AS_APP) {
        problems.push(format!(
            "the token has no {MANAGE_AS_APP} role: in the app registration add the API permission Office 365 Exchange Online › {MANAGE_AS_APP} (Application) and grant admin consent"
        ));
    }
    if !roles.iter().any(|r| EXCHANGE_CAPABLE.contains(&r.as_str())) {
        problems.push(
            "the app holds no Entra role that Exchange honours: assign it Exchange Administrator, or a narrower one such as Exchange Recipient Administrator or Global Reader".to_owned(),
        );
    }
    let probe = if problems.is_empty() {
        match tenant
            .backend
            .invoke(&Call::new("Get-OrganizationConfig"))
            .await
        {
            Ok(objects) => {
                let name = objects
                    .first()
                    .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
                    .and_then(|o| {
                        o["DisplayName"]
                            .as_str()
                            .or(o["Name"].as_str())
                            .map(str::to_owned)
                    })
                    .unwrap_or_default();
                Ok(name)
            }
            Err(e) => {
                problems.push(format!("Get-OrganizationConfig failed: {e}"));
                Err(e.to_string())
            }
        }
    } else {
        Err("skipped".to_owned())
    };
    let expires = claims
        .exp
        .map(format_unix)
        .unwrap_or_else(|| "unknown".into());
    let minutes_left = claims.exp.map(|exp| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        (exp - now) / 60
    });
    let cert_expires = certificate.map(|c| {
        format_unix(
            c.not_after()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default(),
        )
    });
    let cert_soon =
        certificate.is_some_and(|c| c.expires_within(exorun_exchange::EXPIRY_WARNING_DAYS));
    let sign_in = match tenant.connection.sign_in_form() {
        SignInForm::Certificate => "certificate",
        SignInForm::ManagedIdentity => "managed identity",
        SignInForm::AccessToken => "access token (not renewed by exorun)",
    };
    if args.json {
        println!(
            "{}",
            json!({
                "tenant": tenant.name,
                "appId": claims.appid,
                "tenantId": claims.tid,
                "roles": claims.roles,
                "entraRoles": roles,
                "tokenExpires": expires,
                "signIn": sign_in,
                "delegatedOrganization": tenant.connection.delegated_organization(),
                "certificate": certificate.map(|c| json!({
                    "subject": c.subject(),
                    "thumbprint": c.thumbprint_sha1_hex(),
                    "expires": cert_expires,
                    "expiresSoon": cert_soon,
                })),
                "organizationConfig": probe.as_ref().ok(),
                "problems": problems,
            })
        );
    } else {
        println!("Tenant        {}", tenant.name);
        println!("Tenant id     {}", claims.tid.as_deref().unwrap_or("-"));
        println!("App id        {}", claims.appid.as_deref().unwrap_or("-"));
        println!("App roles     {}", claims.roles.join(", "));
        println!(
            "Entra roles   {}",
            if roles.is_empty() {
                "(none)".to_owned()
            } else {
                roles.join(", ")
            }
        );
        println!(
            "Token         expires {expires}{}",
            minutes_left
                .map(|m| format!(" (in {m} min)"))
                .unwrap_or_default()
        );
        println!("Sign-in       {sign_in}");
        if let Some(customer) = tenant.connection.delegated_organization() {
            println!(
                "Delegated     {customer} (on behalf of {})",
                tenant.connection.organization()
            );
        }
        if let (Some(c), Some(cert_expires)) = (certificate, &cert_expires) {
            println!(
                "Certificate   {} ({}), expires {cert_expires}{}",
                c.subject(),
                c.thumbprint_sha1_hex(),
                if cert_soon {
                    "  WARNING: expires soon; run `exorun cert rotate`"
                } else {
                    ""
                }
            );
        }
        match &probe {
            Ok(name) => println!("Exchange      Get-OrganizationConfig ok ({name})"),
            Err(_) => println!("Exchange      not reachable (see below)"),
        }
    }
    if let Some(rotation) = crate::rotation::peek(tenant.connection.organization(), &tenant.app_id)
    {
        let profile = rotation
            .profile
            .as_ref()
            .map(|p| format!(" --profile {p}"))
            .unwrap_or_default();
        eprintln!(
            "exorun: a certificate rotation begun {} is not finished (new certificate {}); run `exorun cert rotate{profile}` to see where it stands and finish it",
            rotation.started, rotation.new.thumbprint
        );
    }
    if problems.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("exorun: problem: {p}");
        }
        Ok(ExitCode::from(1))
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SSZ`.
pub fn format_unix(secs: i64) -> String {
    // Outside jiff's years -9999..=9999: no token claims such a time.
    let at = jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    at.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::format_unix;

    #[test]
    fn formats_unix_seconds_as_utc() {
        assert_eq!(format_unix(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_unix(1_700_000_000), "2023-11-14 22:13:20Z");
        assert_eq!(format_unix(951_782_400), "2000-02-29 00:00:00Z");
    }
}
