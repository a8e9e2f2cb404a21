//! Keeping secrets out of the audit trail.
//!
//! The trail is kept for years and read by people who must not learn a
//! password a plugin passed to `New-Mailbox`. A parameter is redacted when
//! the manifest marks it sensitive *or* its name looks like a secret; the
//! second rule catches what a manifest author forgot, at the price of also
//! hiding harmless parameters such as `KeyWords`. Error messages are scrubbed
//! of the redacted values too, since Exchange often echoes a bad value back.

use exorun_cmdlet::Value;
use serde_json::{Map, Value as Json};

use crate::record::Parameters;

/// What a sensitive value is replaced by.
pub const REDACTED: &str = "<redacted>";

/// The most bytes of an error message kept in a record.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// Name fragments that mark a parameter as secret, compared ignoring case.
const SECRET_WORDS: [&str; 5] = ["password", "secret", "token", "key", "credential"];

/// True when a parameter's name alone says its value is a secret.
pub fn is_sensitive_name(name: &str) -> bool {
    // Compared in place: this runs for every parameter of every call.
    let name = name.as_bytes();
    SECRET_WORDS.iter().any(|word| {
        name.windows(word.len())
            .any(|window| window.eq_ignore_ascii_case(word.as_bytes()))
    })
}

/// Parameters ready for the record, and the secret texts removed from them
/// (to scrub from messages).
pub(crate) fn redact_parameters(
    parameters: &[(String, Value)],
    marked_sensitive: &[&str],
) -> (Parameters, Vec<String>) {
    let mut secrets = Vec::new();
    let pairs = parameters
        .iter()
        .map(|(name, value)| {
            let sensitive = is_sensitive_name(name)
                || marked_sensitive
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(name));
            let json = if sensitive {
                collect_secrets(value, &mut secrets);
                Json::from(REDACTED)
            } else {
                abbreviated(to_json(value, &mut secrets))
            };
            (name.clone(), json)
        })
        .collect();
    (Parameters(pairs), secrets)
}

/// A value as the record keeps it: whole up to
/// [`exorun_cmdlet::MAX_RECORDED_VALUE_BYTES`], else its first 3 KiB, its
/// length and its SHA-256 (text as is, lists and tables as compact JSON),
/// so one call can never make a record too large to write. Applied after
/// redaction, so an abbreviation never shows a secret.
fn abbreviated(json: Json) -> Json {
    match &json {
        Json::String(text) => match exorun_cmdlet::abbreviate(text) {
            Some(short) => Json::String(short),
            None => json,
        },
        Json::Array(_) | Json::Object(_) => {
            let text = json.to_string();
            match exorun_cmdlet::abbreviate(&text) {
                Some(short) => Json::String(short),
                None => json,
            }
        }
        _ => json,
    }
}

/// A parameter value as JSON; hashtable entries with secret-looking keys
/// (`@{Password=…}`) are redacted on their own.
fn to_json(value: &Value, secrets: &mut Vec<String>) -> Json {
    match value {
        Value::Table(entries) => {
            let mut map = Map::new();
            for (key, leaf) in entries {
                let leaf_value = Value::from(leaf.clone());
                let json = if is_sensitive_name(key) {
                    collect_secrets(&leaf_value, secrets);
                    Json::from(REDACTED)
                } else {
                    serde_json::to_value(leaf).unwrap_or(Json::Null)
                };
                map.insert(key.clone(), json);
            }
            Json::Object(map)
        }
        // The one JSON form of a value (`exorun_cmdlet`'s `json` module);
        // it cannot fail, all keys being strings.
        other => serde_json::to_value(other).unwrap_or(Json::Null),
    }
}

fn collect_secrets(value: &Value, secrets: &mut Vec<String>) {
    match value {
        Value::Text(s) if !s.is_empty() => secrets.push(s.clone()),
        Value::Texts(v) => secrets.extend(v.iter().filter(|s| !s.is_empty()).cloned()),
        Value::Table(entries) => {
            for (_, leaf) in entries {
                collect_secrets(&Value::from(leaf.clone()), secrets);
            }
        }
        _ => {}
    }
}

/// A message fit for the record: secret values replaced, then capped.
pub(crate) fn clean_message(message: &str, secrets: &[String]) -> String {
    let mut text = message.to_owned();
    // Longest first, so a secret that contains another is removed whole.
    let mut ordered: Vec<&String> = secrets.iter().collect();
    ordered.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in ordered {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), REDACTED);
        }
    }
    cap(text, MAX_MESSAGE_BYTES)
}

/// Cuts text to at most `limit` bytes on a character boundary, marking the
/// cut with `…`.
pub(crate) fn cap(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use exorun_cmdlet::Leaf;

    #[test]
    fn names_containing_secret_words_are_sensitive_in_any_case() {
        for name in [
            "Password",
            "NewPASSWORD",
            "ClientSecret",
            "AccessToken",
            "ApiKey",
            "Credential",
        ] {
            assert!(is_sensitive_name(name), "{name}");
        }
        for name in ["Identity", "DisplayName", "ResultSize"] {
            assert!(!is_sensitive_name(name), "{name}");
        }
    }

    #[test]
    fn caller_marked_and_secret_named_parameters_are_redacted_others_kept() {
        let params = vec![
            ("Identity".to_owned(), Value::from("alice")),
            ("Password".to_owned(), Value::from("hunter22")),
            ("Notes".to_owned(), Value::from("private note")),
            ("Enabled".to_owned(), Value::from(true)),
        ];
        let (redacted, secrets) = redact_parameters(&params, &["notes"]);
        assert_eq!(
            redacted.0,
            vec![
                ("Identity".to_owned(), Json::from("alice")),
                ("Password".to_owned(), Json::from(REDACTED)),
                ("Notes".to_owned(), Json::from(REDACTED)),
                ("Enabled".to_owned(), Json::from(true)),
            ]
        );
        assert_eq!(
            secrets,
            vec!["hunter22".to_owned(), "private note".to_owned()]
        );
    }

    #[test]
    fn secret_keys_inside_a_hashtable_are_redacted() {
        let params = vec![(
            "Settings".to_owned(),
            Value::Table(vec![
                ("Add".to_owned(), Leaf::Text("a@contoso.com".into())),
                ("Token".to_owned(), Leaf::Text("abc".into())),
            ]),
        )];
        let (redacted, secrets) = redact_parameters(&params, &[]);
        assert_eq!(
            serde_json::to_string(&redacted).unwrap(),
            r#"{"Settings":{"Add":"a@contoso.com","Token":"<redacted>"}}"#
        );
        assert_eq!(secrets, vec!["abc".to_owned()]);
    }

    #[test]
    fn messages_lose_secret_values_and_are_capped() {
        let secrets = vec!["hunter2".to_owned(), "hunter22".to_owned()];
        assert_eq!(
            clean_message("password 'hunter22' is too weak", &secrets),
            "password '<redacted>' is too weak"
        );
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let capped = clean_message(&long, &[]);
        assert!(capped.len() <= MAX_MESSAGE_BYTES);
        assert!(capped.ends_with('…'));
        assert_eq!(capped.len(), 1020 + '…'.len_utf8());
    }
}
