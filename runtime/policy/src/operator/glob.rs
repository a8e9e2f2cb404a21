//! Cmdlet names with `*` wildcards, as an operator writes them in a policy
//! (`Remove-*`, `*-TransportRule`, `*`).

/// A cmdlet name that may hold `*`, matched case-insensitively as
/// PowerShell matches cmdlet names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdletGlob {
    text: String,
}

impl CmdletGlob {
    /// Accepts `*` alone, or Verb-Noun where either part may hold `*`.
    pub fn parse(text: &str) -> Result<CmdletGlob, String> {
        let part = |p: &str| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '*')
                && !p.starts_with(|c: char| c.is_ascii_digit())
        };
        let valid = text == "*"
            || matches!(text.split_once('-'), Some((verb, noun)) if part(verb) && part(noun));
        if valid {
            Ok(CmdletGlob {
                text: text.to_owned(),
            })
        } else {
            Err(format!(
                "'{text}' is not a cmdlet name (Verb-Noun, like Remove-Mailbox), a wildcard such as Remove-* or *"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches, ignoring ASCII case. Cmdlet names are
    /// ASCII (the manifest refuses any other), so no Unicode folding is
    /// needed here.
    pub fn matches(&self, name: &str) -> bool {
        crate::wildcard::matches(self.text.as_bytes(), name.as_bytes(), b'*', None, |a, b| {
            a.eq_ignore_ascii_case(&b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(s: &str) -> CmdletGlob {
        CmdletGlob::parse(s).unwrap()
    }

    #[test]
    fn matches_names_and_wildcards_ignoring_case() {
        assert!(glob("Remove-*").matches("remove-mailbox"));
        assert!(glob("*-TransportRule").matches("New-TransportRule"));
        assert!(glob("*").matches("Get-Mailbox"));
        assert!(glob("Set-Mailbox").matches("SET-MAILBOX"));
        assert!(glob("Set-*Box").matches("Set-Mailbox"));
        assert!(!glob("Set-Mailbox").matches("Set-MailboxPlan"));
        assert!(!glob("Remove-*").matches("Get-Mailbox"));
        assert!(!glob("Set-*Box").matches("Set-MailboxPlan"));
    }

    #[test]
    fn refuses_what_is_not_a_cmdlet_name() {
        for bad in [
            "",
            "Remove",
            "-Mailbox",
            "Remove-",
            "Get-Mail box",
            "Get-*;x",
            "**-",
        ] {
            assert!(CmdletGlob::parse(bad).is_err(), "{bad}");
        }
    }
}
