//! Who is running exorun, for the `operator` field.
//!
//! The account database (`getpwuid_r` on the real uid) is asked first
//! because `$USER` is whatever the environment says; the variables are the
//! fallback where there is no entry (some containers), then `uid:<n>`. This
//! is a label for humans reading the trail, not authentication: anyone who
//! can write the log can write any name into it.
//!
//! The one `unsafe` call left is `getpwuid_r`: the account database is
//! reached through the C library's name service switch (LDAP, SSSD, files),
//! which no safe system-call crate (rustix) offers.

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
        format!("uid:{}", rustix::process::getuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        "unknown".to_owned()
    }
}

#[cfg(unix)]
fn account_name() -> Option<String> {
    use std::ffi::CStr;
    use std::mem::MaybeUninit;

    let mut buf = vec![0 as libc::c_char; 4096];
    let mut entry = MaybeUninit::<libc::passwd>::uninit();
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `entry` and `result` are
    // out-parameters, `buf` is a writable buffer of the stated length that
    // outlives the use of the returned strings, which point into it.
    let rc = unsafe {
        libc::getpwuid_r(
            rustix::process::getuid().as_raw(),
            entry.as_mut_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: on success `result` points at `entry`, now initialised, and
    // `pw_name` at a NUL-terminated string inside `buf`.
    let name = unsafe { CStr::from_ptr((*result).pw_name) };
    let name = name.to_str().ok()?.to_owned();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_is_never_empty() {
        assert!(!current_operator().is_empty());
    }
}
