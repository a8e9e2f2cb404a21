//! Shared plugins (run with `cargo bench -p exorun-e2e --bench sharing`),
//! on a real registry (Debian's docker-registry) on 127.0.0.1:
//! - `exorun publish --sign` and `exorun install --yes` of the 18 MB
//!   Python example (autoreply-report), warm (binary built, registry
//!   running), each into a fresh repository and a fresh store (target ≤ 2 s
//!   each);
//! - signature verification by the trust policy (target ≤ 1 ms);
//! - `exorun run <name>` of an installed Rust plugin against `exorun run
//!   <folder>`, interleaved (target: no slower).

use std::process::Command;
use std::time::{Duration, Instant};

use exorun_e2e::{Registry, RegistrySetup, built_plugin, release_exorun};
use exorun_package::PackageName;
use exorun_package::signing::{self, PublicKey, SigningKey};
use exorun_package::trust::TrustPolicy;
use secrecy::SecretString;

const ROUNDS: usize = 7;
const RUNS: usize = 41;
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn timed(command: &mut Command) -> Duration {
    let start = Instant::now();
    let out = command.output().expect("run exorun");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn main() {
    let exorun = release_exorun();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("pw"), "bench password\n").unwrap();
    let exo = |args: &[&str]| {
        let mut command = Command::new(&exorun);
        command
            .args(args)
            .env("EXORUN_TRUST_POLICY", dir.join("trust.toml"))
            .env("EXORUN_AUDIT_LOG", dir.join("audit.jsonl"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("EXORUN_CACHE_DIR", dir.join("cache"));
        command
    };
    timed(
        exo(&[
            "key",
            "new",
            "--out",
            dir.to_str().unwrap(),
            "--name",
            "k",
            "--password-file",
            dir.join("pw").to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null()),
    );
    timed(&mut exo(&[
        "trust",
        "add",
        dir.join("k.pub").to_str().unwrap(),
        "--publisher",
        "Bench",
        "--namespace",
        "bench-*",
    ]));

    let registry = Registry::start(RegistrySetup::default());
    let python = built_plugin("plugins/autoreply-report");
    let python_dir = python.parent().unwrap();
    let version = exorun_policy::Manifest::load(&python)
        .unwrap()
        .plugin
        .version
        .to_string();
    let size = std::fs::metadata(
        exorun_policy::Manifest::load(&python)
            .unwrap()
            .plugin
            .component,
    )
    .unwrap()
    .len();
    let mut publish = Vec::new();
    let mut install = Vec::new();
    for round in 0..ROUNDS {
        let reference = registry.reference(&format!("bench-{round}/autoreply-report:{version}"));
        publish.push(timed(&mut exo(&[
            "publish",
            python_dir.to_str().unwrap(),
            &reference,
            "--plain-http",
            "--sign",
            dir.join("k.key").to_str().unwrap(),
            "--key-password-file",
            dir.join("pw").to_str().unwrap(),
        ])));
        install.push(timed(
            exo(&["install", &reference, "--plain-http", "--yes"])
                .env("EXORUN_PLUGINS_DIR", dir.join(format!("store-{round}"))),
        ));
    }
    println!(
        "publish --sign, {:.1} MB Python component: median {} (min {}, max {}) over {ROUNDS}",
        size as f64 / 1e6,
        ms(median(publish.clone())),
        ms(*publish.iter().min().unwrap()),
        ms(*publish.iter().max().unwrap())
    );
    println!(
        "install --yes (pull, digests, signature, store, lock): median {} (min {}, max {}) over {ROUNDS}",
        ms(median(install.clone())),
        ms(*install.iter().min().unwrap()),
        ms(*install.iter().max().unwrap())
    );

    // Signature verification as install does it: key lookup, minisign
    // verification of the statement and the trusted comment, the checks
    // of name, digest and namespace.
    let password = SecretString::from("pw");
    let files = signing::generate(&password).unwrap();
    let key = SigningKey::open(&files.secret, &password).unwrap();
    let mut policy = TrustPolicy::load(&dir.join("verify-trust.toml")).unwrap();
    policy
        .add(
            &PublicKey::parse(&files.public).unwrap(),
            "Bench",
            &["bench".to_owned()],
            "now",
        )
        .unwrap();
    let name = PackageName::parse("bench/plugin").unwrap();
    let signature = key.sign(&name, DIGEST).unwrap();
    let batch = 200;
    let mut per_check = Vec::new();
    for _ in 0..25 {
        let start = Instant::now();
        for _ in 0..batch {
            std::hint::black_box(policy.check(&signature, &name, DIGEST).unwrap());
        }
        per_check.push(start.elapsed() / batch);
    }
    println!(
        "signature verification: median {:.1} µs per check",
        median(per_check).as_secs_f64() * 1e6
    );

    // Run by name against run by folder, interleaved.
    let rust = built_plugin("plugins/forwarding-audit");
    let rust_dir = rust.parent().unwrap().to_str().unwrap().to_owned();
    let store = dir.join("rust-store");
    let bundle = dir.join("rust.tar");
    timed(
        exo(&[
            "bundle",
            &rust_dir,
            "--namespace",
            "bench-rust",
            "-o",
            bundle.to_str().unwrap(),
            "--sign",
            dir.join("k.key").to_str().unwrap(),
            "--key-password-file",
            dir.join("pw").to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null()),
    );
    timed(
        exo(&["install", bundle.to_str().unwrap(), "--yes"])
            .env("EXORUN_PLUGINS_DIR", &store)
            .stdout(std::process::Stdio::null()),
    );
    let run = |target: &str| {
        timed(
            exo(&["run", target, "--quiet"])
                .env("EXORUN_PLUGINS_DIR", &store)
                .current_dir(dir),
        )
    };
    // One of each first: the compile cache is warm for both afterwards.
    run("forwarding-audit");
    run(&rust_dir);
    let (mut by_name, mut by_folder) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        by_name.push(run("forwarding-audit"));
        by_folder.push(run(&rust_dir));
    }
    let (name_median, folder_median) = (median(by_name), median(by_folder));
    println!(
        "exorun run forwarding-audit (installed): median {}; exorun run <folder>: median {}; ratio {:.3}",
        ms(name_median),
        ms(folder_median),
        name_median.as_secs_f64() / folder_median.as_secs_f64()
    );
}
