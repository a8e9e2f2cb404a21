//! `calls` Get-Mailbox calls (a missing mailbox is fine) with progress every
//! 100, optionally a Set-Mailbox -DisplayName and one Set-Mailbox with
//! secret values, then `files` small
//! files and one file of `write-bytes` bytes in the outputs folder.

use exorun_sdk::{Automation, Error, cmdlet, input, progress};

struct OpsProbe;

fn integer(name: &str) -> i64 {
    input(name).and_then(|i| i.as_integer()).unwrap_or(0)
}

impl Automation for OpsProbe {
    fn run() -> Result<String, Error> {
        let calls = integer("calls").max(0) as u64;
        let identity = input("identity")
            .and_then(|i| i.as_text().map(str::to_owned))
            .unwrap_or_default();
        let mut found = 0u64;
        for i in 0..calls {
            match cmdlet("Get-Mailbox").param("Identity", identity.as_str()).invoke_raw() {
                Ok(objects) => found += objects.len() as u64,
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            if (i + 1) % 100 == 0 || i + 1 == calls {
                progress(i + 1, Some(calls));
            }
        }
        let display_name = input("display-name")
            .and_then(|i| i.as_text().map(str::to_owned))
            .unwrap_or_default();
        if !display_name.is_empty() {
            cmdlet("Set-Mailbox")
                .param("Identity", identity.as_str())
                .param("DisplayName", display_name.as_str())
                .invoke_raw()?;
        }
        if input("secret-call").and_then(|i| i.as_bool()).unwrap_or(false) {
            // The tenant refuses the parameters; the audit trail must still
            // not hold their values.
            let _ = cmdlet("Set-Mailbox")
                .param("Identity", identity.as_str())
                .param("Password", "hunter22-secret")
                .param("CustomAttribute1", "marked-sensitive-value")
                .invoke_raw();
        }
        for i in 0..integer("files").max(0) {
            std::fs::write(format!("/outputs/file-{i}.txt"), format!("file {i}\n"))
                .map_err(|e| Error::other(format!("writing file {i}: {e}")))?;
        }
        let bytes = integer("write-bytes").max(0) as usize;
        if bytes > 0 {
            let chunk = vec![b'x'; 64 * 1024];
            let mut file = std::fs::File::create("/outputs/report.bin")
                .map_err(|e| Error::other(format!("creating report.bin: {e}")))?;
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                std::io::Write::write_all(&mut file, &chunk[..n])
                    .map_err(|e| Error::other(format!("writing report.bin: {e}")))?;
                left -= n;
            }
        }
        Ok(format!("{calls} calls, {found} objects\n"))
    }
}

exorun_sdk::export!(OpsProbe);
