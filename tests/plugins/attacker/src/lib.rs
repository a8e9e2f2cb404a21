//! Attacks through the raw WIT bindings, as a marketplace plugin with bad
//! intent would make them. Each attack reports what it saw in its output,
//! one line per probe, so the tests can assert the exact answers; attacks
//! that the host must end never return on their own.

use exorun_sdk::bindings::exorun::automation::{cmdlets, host, inputs, types};
use std::io::Write;
use types::{Call, CmdletError, Leaf, Value};

struct Attacker;

unsafe extern "C" {
    /// wasi-libc's symlink(2), since std's WASI symlink is unstable.
    #[link_name = "symlink"]
    fn libc_symlink(target: *const std::ffi::c_char, path: *const std::ffi::c_char) -> i32;
}

fn symlink(target: &std::ffi::CStr, path: &std::ffi::CStr) -> std::io::Result<()> {
    // SAFETY: both are NUL-terminated strings that outlive the call.
    match unsafe { libc_symlink(target.as_ptr(), path.as_ptr()) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

fn text_input(name: &str) -> String {
    match inputs::get(name) {
        Some(inputs::InputValue::Text(t)) => t,
        _ => String::new(),
    }
}

fn int_input(name: &str) -> i64 {
    match inputs::get(name) {
        Some(inputs::InputValue::Integer(i)) => i,
        _ => 0,
    }
}

fn call(cmdlet: &str, parameters: Vec<(&str, Value)>) -> Call {
    Call {
        cmdlet: cmdlet.to_owned(),
        parameters: parameters
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .collect(),
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// One line describing how a call ended: `ok N` or the error's case and rule.
fn outcome(result: &Result<Vec<String>, CmdletError>) -> String {
    match result {
        Ok(objects) => format!("ok {}", objects.len()),
        Err(CmdletError::Denied(d)) => format!("denied {}", d.rule),
        Err(CmdletError::LimitExceeded(_)) => "limit-exceeded".to_owned(),
        Err(CmdletError::Failed(f)) => format!("failed {}", f.code),
        Err(e) => format!("error {e:?}"),
    }
}

fn set_mailbox(extra: Vec<(&str, Value)>) -> Call {
    let mut parameters = vec![("Identity", text("ann@contoso.com"))];
    parameters.extend(extra);
    call("Set-Mailbox", parameters)
}

impl exorun_sdk::bindings::Guest for Attacker {
    fn run() -> Result<String, String> {
        let count = int_input("count").max(0) as usize;
        let bytes = int_input("bytes").max(0) as usize;
        let mut out = String::new();
        match text_input("attack").as_str() {
            // Denied calls with large values, again and again.
            "denied-flood" => {
                let value = "x".repeat(bytes);
                for _ in 0..count {
                    let r = cmdlets::invoke(&set_mailbox(vec![(
                        "ForwardingSmtpAddress",
                        text(&value),
                    )]));
                    out.push_str(&outcome(&r));
                    out.push('\n');
                }
            }
            // `count` denied calls, then reads until the host says no.
            "denied-then-reads" => {
                for _ in 0..count {
                    let _ = cmdlets::invoke(&call("Remove-Mailbox", vec![]));
                }
                let mut reads = 0;
                loop {
                    let r = cmdlets::invoke(&call("Get-Mailbox", vec![("Identity", text("x"))]));
                    match r {
                        Ok(_) => reads += 1,
                        Err(_) => {
                            out = format!("{reads} reads, then {}", outcome(&r));
                            break;
                        }
                    }
                }
            }
            // An Identity that matches the pattern and is far too large.
            "oversized-identity" => {
                let identity = format!("{}@contoso.com", "a".repeat(bytes));
                let r = cmdlets::invoke(&call(
                    "Set-Mailbox",
                    vec![
                        ("Identity", Value::Text(identity)),
                        ("ForwardingSmtpAddress", Value::Null),
                    ],
                ));
                out = outcome(&r);
            }
            // `count` parameters whose values all point at the same `bytes`
            // of memory: tiny for the plugin, `count` x `bytes` if copied.
            "aliased-values" => {
                let mut big = "a".repeat(bytes);
                let parameters: Vec<(String, Value)> = (0..count)
                    .map(|i| {
                        // SAFETY: every alias is forgotten below, never freed.
                        let alias = unsafe {
                            String::from_raw_parts(big.as_mut_ptr(), big.len(), big.capacity())
                        };
                        (format!("P{i}"), Value::Text(alias))
                    })
                    .collect();
                let c = Call {
                    cmdlet: "Get-Mailbox".to_owned(),
                    parameters,
                };
                let r = cmdlets::invoke(&c);
                for (_, value) in c.parameters {
                    if let Value::Text(alias) = value {
                        std::mem::forget(alias);
                    }
                }
                out = outcome(&r);
            }
            // A batch of `count` calls that all point at one Identity of
            // `bytes` bytes.
            "aliased-batch" => {
                let mut big = "a".repeat(bytes);
                let calls: Vec<Call> = (0..count)
                    .map(|_| {
                        // SAFETY: every alias is forgotten below, never freed.
                        let alias = unsafe {
                            String::from_raw_parts(big.as_mut_ptr(), big.len(), big.capacity())
                        };
                        call("Get-Mailbox", vec![("Identity", Value::Text(alias))])
                    })
                    .collect();
                let results = cmdlets::invoke_many(&calls);
                for c in calls {
                    for (_, value) in c.parameters {
                        if let Value::Text(alias) = value {
                            std::mem::forget(alias);
                        }
                    }
                }
                let ok = results.iter().filter(|r| r.is_ok()).count();
                out = format!("{ok} ok of {}", results.len());
            }
            // One batch of `count` unbounded reads.
            "batch-amplify" => {
                let calls: Vec<Call> = (0..count)
                    .map(|_| call("Get-Mailbox", vec![("ResultSize", text("Unlimited"))]))
                    .collect();
                let results = cmdlets::invoke_many(&calls);
                let ok = results.iter().filter(|r| r.is_ok()).count();
                let limited = results
                    .iter()
                    .filter(|r| matches!(r, Err(CmdletError::LimitExceeded(_))))
                    .count();
                out = format!("{ok} ok, {limited} limit-exceeded");
            }
            // Write through a descriptor whose file was unlinked.
            "unlinked-write" => {
                let mut file = std::fs::File::create("/outputs/big.bin").map_err(|e| e.to_string())?;
                std::fs::remove_file("/outputs/big.bin").map_err(|e| e.to_string())?;
                let chunk = vec![7u8; 64 << 10];
                let mut written = 0usize;
                while written < bytes {
                    file.write_all(&chunk).map_err(|e| format!("after {written} bytes: {e}"))?;
                    written += chunk.len();
                }
                out = format!("wrote {written} bytes");
            }
            // A sparse file: no byte written, a gigabyte long.
            "sparse" => {
                let file = std::fs::File::create("/outputs/sparse.bin").map_err(|e| e.to_string())?;
                file.set_len(1 << 30).map_err(|e| format!("set_len: {e}"))?;
                out = "grew".to_owned();
            }
            // Links in the outputs folder.
            "links" => {
                std::fs::write("/outputs/real.txt", "real").map_err(|e| e.to_string())?;
                let sym = symlink(c"../../../../etc/passwd", c"/outputs/rel");
                let hard = std::fs::hard_link("/outputs/real.txt", "/outputs/hard.txt");
                out = format!(
                    "symlink: {:?}\nhardlink: {:?}\n",
                    sym.map_err(|e| e.kind()),
                    hard.map_err(|e| e.kind())
                );
            }
            // Files and folders, some nested and some empty.
            "entries" => {
                std::fs::create_dir("/outputs/empty").map_err(|e| e.to_string())?;
                std::fs::create_dir("/outputs/sub").map_err(|e| e.to_string())?;
                std::fs::write("/outputs/sub/a.csv", "a,b\n").map_err(|e| e.to_string())?;
                std::fs::write("/outputs/\u{1b}[2Jtitle.txt", "x").map_err(|e| e.to_string())?;
                out = "made".to_owned();
            }
            // Empty collections and repeated keys on constrained parameters.
            "empty-collections" => {
                let probes: Vec<(&str, Call)> = vec![
                    ("texts-on-set", set_mailbox(vec![("ForwardingSmtpAddress", Value::Texts(vec![]))])),
                    ("table-on-set", set_mailbox(vec![("ForwardingSmtpAddress", Value::Table(vec![]))])),
                    ("add-null-on-set", set_mailbox(vec![("ForwardingSmtpAddress", Value::Table(vec![("Add".into(), Leaf::Null)]))])),
                    ("texts-on-pattern", set_mailbox(vec![("EmailAddresses", Value::Texts(vec![]))])),
                    ("add-empty-on-pattern", set_mailbox(vec![("EmailAddresses", Value::Table(vec![("Add".into(), Leaf::Texts(vec![]))]))])),
                    ("identity-texts", call("Set-Mailbox", vec![("Identity", Value::Texts(vec![])), ("ForwardingSmtpAddress", Value::Null)])),
                    ("repeated-add", set_mailbox(vec![("EmailAddresses", Value::Table(vec![
                        ("Add".into(), Leaf::Text("smtp:a@contoso.com".into())),
                        ("ADD".into(), Leaf::Text("smtp:b@contoso.com".into())),
                    ]))])),
                    ("texts-where-clear", set_mailbox(vec![("ExtensionCustomAttribute1", Value::Texts(vec![]))])),
                ];
                for (name, c) in probes {
                    out.push_str(&format!("{name}: {}\n", outcome(&cmdlets::invoke(&c))));
                }
            }
            // Look-alike letters that case folding would equate.
            "look-alikes" => {
                let probes: Vec<(&str, Call)> = vec![
                    ("kelvin-in-set", call("Get-Mailbox", vec![("RecipientTypeDetails", text("Lin\u{212A}edMailbox"))])),
                    ("long-s-in-set", call("Get-Mailbox", vec![("RecipientTypeDetails", text("\u{17F}haredMailbox"))])),
                    ("upper-in-set", call("Get-Mailbox", vec![("RecipientTypeDetails", text("SHAREDMAILBOX"))])),
                    ("long-s-in-pattern", call("Set-Mailbox", vec![("Identity", text("ceo@conto\u{17F}o.com")), ("ForwardingSmtpAddress", Value::Null)])),
                    ("kelvin-in-pattern", call("Set-Mailbox", vec![("Identity", text("ceo@contoso.com")), ("EmailAddresses", text("smtp:x@\u{212A}ontoso.com"))])),
                ];
                for (name, c) in probes {
                    out.push_str(&format!("{name}: {}\n", outcome(&cmdlets::invoke(&c))));
                }
            }
            // Terminal escapes in every place a plugin controls text.
            "control-chars" => {
                host::log(host::Level::Info, "\u{1b}]0;pwned\u{7}\u{1b}[2J\rexorun: all good");
                let _ = cmdlets::invoke(&call("Get-Mailbox\u{1b}[31m", vec![]));
                let _ = cmdlets::invoke(&set_mailbox(vec![("ForwardingSmtpAddress", text("\u{1b}]0;x\u{7}evil@example.com"))]));
                return Err("\u{1b}[2Jfailed\rexorun: ok".to_owned());
            }
            // `count` writes, one after another, whatever each answers.
            "writes" => {
                let mut answers = std::collections::BTreeMap::new();
                for i in 0..count {
                    let r = cmdlets::invoke(&call(
                        "Set-Mailbox",
                        vec![
                            ("Identity", Value::Text(format!("user{i}@contoso.com"))),
                            ("ForwardingSmtpAddress", Value::Null),
                        ],
                    ));
                    *answers.entry(outcome(&r)).or_insert(0u64) += 1;
                }
                out = format!("{answers:?}");
            }
            other => return Err(format!("unknown attack '{other}'")),
        }
        Ok(out)
    }
}

exorun_sdk::bindings::__export_automation_world!(Attacker with_types_in exorun_sdk::bindings);
