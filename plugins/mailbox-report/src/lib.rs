//! Mailbox size report: `Get-Mailbox -ResultSize Unlimited`, then
//! `Get-MailboxStatistics -Identity` for each mailbox (batched through
//! `invoke_many`), as one CSV row per mailbox with sizes in bytes.
//!
//! Mailboxes are read a page at a time and measured a batch at a time, so
//! memory holds one page and the report, never the whole tenant: a
//! 100,000-mailbox tenant fits the plugin's 64 MiB.

use exorun_sdk::objects::{Mailbox, MailboxStatistics};
use exorun_sdk::size::parse_bytes;
use exorun_sdk::{Automation, Error, cmdlet, input, invoke_many, log, progress};

struct MailboxReport;

const HEADER: &str = "DisplayName,UserPrincipalName,PrimarySmtpAddress,RecipientTypeDetails,ItemCount,TotalItemSizeBytes,IssueWarningQuotaBytes,ProhibitSendQuotaBytes,ProhibitSendReceiveQuotaBytes,PercentOfSendQuota";

impl Automation for MailboxReport {
    fn run() -> Result<String, Error> {
        let types = input("types")
            .and_then(|t| t.as_texts().map(<[String]>::to_vec))
            .unwrap_or_default();
        let batch = input("batch")
            .and_then(|b| b.as_integer())
            .unwrap_or(25)
            .clamp(1, 200) as usize;

        let mut request = cmdlet("Get-Mailbox").param("ResultSize", "Unlimited");
        if !types.is_empty() {
            request = request.param("RecipientTypeDetails", types);
        }
        let mut mailboxes = request.objects::<Mailbox>()?;

        let mut csv = String::from(HEADER);
        csv.push('\n');
        let mut done = 0u64;
        loop {
            // The next batch, read lazily: a page is fetched only when the
            // one before is used up.
            let chunk: Vec<Mailbox> = mailboxes.by_ref().take(batch).collect::<Result<_, _>>()?;
            if chunk.is_empty() {
                break;
            }
            let calls = chunk
                .iter()
                .map(|m| cmdlet("Get-MailboxStatistics").param("Identity", &m.primary_smtp_address))
                .collect();
            for (mailbox, stats) in chunk.iter().zip(invoke_many(calls)) {
                let stats: Option<MailboxStatistics> = match stats {
                    Ok(objects) => objects
                        .into_iter()
                        .next()
                        .map(serde_json::from_value)
                        .transpose()
                        .map_err(|e| Error::Parse(e.to_string()))?,
                    Err(Error::NotFound(m)) => {
                        log::warn(&format!(
                            "no statistics for {}: {m}",
                            mailbox.primary_smtp_address
                        ));
                        None
                    }
                    Err(e) => return Err(e),
                };
                row(&mut csv, mailbox, stats.as_ref());
            }
            done += chunk.len() as u64;
            // How many there are is known only once the last page is read.
            progress(done, None);
        }
        progress(done, Some(done));
        log::info(&format!("{done} mailboxes measured"));
        Ok(csv)
    }
}

fn row(csv: &mut String, m: &Mailbox, stats: Option<&MailboxStatistics>) {
    let size = stats
        .and_then(|s| s.total_item_size.as_deref())
        .and_then(parse_bytes);
    let send_quota = m.prohibit_send_quota.as_deref().and_then(parse_bytes);
    let percent = match (size, send_quota) {
        (Some(size), Some(quota)) if quota > 0 => {
            format!("{:.1}", size as f64 * 100.0 / quota as f64)
        }
        _ => String::new(),
    };
    let fields = [
        field(&m.display_name),
        field(&m.user_principal_name),
        field(&m.primary_smtp_address),
        field(&m.recipient_type_details),
        stats.map(|s| s.item_count.to_string()).unwrap_or_default(),
        opt(size),
        opt(m.issue_warning_quota.as_deref().and_then(parse_bytes)),
        opt(send_quota),
        opt(m
            .prohibit_send_receive_quota
            .as_deref()
            .and_then(parse_bytes)),
        percent,
    ];
    csv.push_str(&fields.join(","));
    csv.push('\n');
}

fn opt(n: Option<u64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

exorun_sdk::export!(MailboxReport);
