//! Who is running exorun, for the `operator` field.
//!
//! The account database (`getpwuid_r` on the real uid) is asked first
//! because `$USER` is whatever the environment says; the variables are the
//! fallback where there is no entry (some containers), then `uid:<n>`. This
//! is a label for humans reading the trail, not authentication: anyone who
//! can write the log can write any name into it.
//!
//! The account database is reached through the C library's name service
//! switch (LDAP, SSSD, files), which no system-call crate (rustix) offers;
//! `nix` wraps `getpwuid_r` safely.

/// The local user name of this process.
pub fn current_operator() -> String {
    #[cfg(unix)]
    if let Some(name) = account_name() {
        return name;
    }
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Some(name) = std::env::var_os(var).and_then(|v| v.into_string().ok())
            && !name.is_empty()
        {
            return name;
        }
    }
    #[cfg(unix)]
    {
        format!("uid:{}", nix::unistd::Uid::current())
    }
    #[cfg(not(unix))]
    {
        "unknown".to_owned()
    }
}

#[cfg(unix)]
fn account_name() -> Option<String> {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::current()).ok()??;
    (!user.name.is_empty()).then_some(user.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_is_never_empty() {
        assert!(!current_operator().is_empty());
    }
}
