//! Text for messages about HTTP failures, shared by the token request and
//! the InvokeCommand client: what went wrong in a request, and the start of
//! an odd answer, both safe to show.

/// The start of a body as printable text, for messages about odd answers.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A reqwest error with its causes ("error sending request: connection
/// closed before message completed"), since the top-level text alone rarely
/// says what happened. The URL is left out: query strings may carry skip
/// tokens, and the caller knows which endpoint it called.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let top = e.to_string();
    let top = match top.find(" for url (") {
        Some(i) => top[..i].to_owned(),
        None => top,
    };
    let mut text = exorun_cmdlet::append_causes(top, e);
    if is_untrusted_certificate(&text) {
        text.push_str(UNTRUSTED_CERTIFICATE_HINT);
    }
    text
}

/// Appended to a TLS failure where the server's certificate was not
/// trusted: OpenSSL's own words do not say what to do.
pub const UNTRUSTED_CERTIFICATE_HINT: &str = " (the server's TLS certificate is not trusted here: if a private CA signed it, as for `exorun sim` or a TLS-inspecting proxy, pass that CA's certificate with --ca-file PEM)";

fn is_untrusted_certificate(text: &str) -> bool {
    [
        "certificate verify failed",
        "self-signed certificate",
        "self signed certificate",
        "unable to get local issuer certificate",
        "unable to verify the first certificate",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}
