//! `exorun new`: a scaffolded plugin in each language builds, runs against
//! the simulated tenant, may call no cmdlet until its author declares one,
//! and comes with a unit test that passes.

use std::path::Path;

use exorun_e2e::{Exorun, exorun_in};

/// `exorun new` → `exorun build` → `exorun run`, in a fresh folder.
fn scaffold_build_and_run(lang: &str) -> (tempfile::TempDir, Exorun) {
    let tmp = tempfile::tempdir().unwrap();
    let name = format!("hello-{lang}");
    let created = exorun_in(tmp.path(), &["new", &name, "--lang", lang]);
    assert_eq!(created.code, 0, "exorun new: {}", created.stderr);
    assert!(
        created
            .stdout
            .starts_with(&format!("created {name} in {name}: exorun.toml, ")),
        "{}",
        created.stdout
    );
    let built = exorun_in(tmp.path(), &["build", &name]);
    assert_eq!(built.code, 0, "exorun build: {}", built.stderr);
    let run = exorun_in(
        tmp.path(),
        &["run", &name, "--quiet", "--input", "name=Ann"],
    );
    (tmp, run)
}

fn assert_greets(lang: &str, run: &Exorun) {
    assert_eq!(run.code, 0, "exorun run: {}", run.stderr);
    assert_eq!(run.stdout, format!("Hello, Ann, from hello-{lang}.\n"));
}

/// The scaffold's own unit test, in the language's own runner.
fn native_test(dir: &Path, program: &str, args: &[&str]) {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn new_rust_plugin_builds_and_runs() {
    let (_tmp, run) = scaffold_build_and_run("rust");
    assert_greets("rust", &run);
}

#[test]
fn new_python_plugin_builds_runs_and_its_unit_test_passes() {
    let (tmp, run) = scaffold_build_and_run("python");
    assert_greets("python", &run);
    native_test(
        &tmp.path().join("hello-python"),
        "python3",
        &["-m", "unittest"],
    );
}

#[test]
fn new_js_plugin_builds_runs_and_its_unit_test_passes() {
    let (tmp, run) = scaffold_build_and_run("js");
    assert_greets("js", &run);
    native_test(&tmp.path().join("hello-js"), "node", &["--test"]);
}

#[test]
fn new_plugin_manifest_declares_no_cmdlet() {
    let tmp = tempfile::tempdir().unwrap();
    let created = exorun_in(tmp.path(), &["new", "empty", "--lang", "python"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let manifest = exorun_policy::Manifest::load(&tmp.path().join("empty")).unwrap();
    assert!(manifest.capabilities.cmdlets().is_empty());
    assert_eq!(manifest.plugin.component.file_name().unwrap(), "empty.wasm");
}

#[test]
fn new_refuses_a_folder_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    std::fs::write(tmp.path().join("taken/notes.txt"), "mine").unwrap();
    let refused = exorun_in(tmp.path(), &["new", "taken", "--lang", "js"]);
    assert_eq!(refused.code, 2);
    assert_eq!(
        refused.stderr,
        "exorun: error: taken already exists and is not empty; choose a new folder\n"
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("taken/notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn new_refuses_a_name_the_manifest_would_reject() {
    let tmp = tempfile::tempdir().unwrap();
    let refused = exorun_in(tmp.path(), &["new", "My_Plugin", "--lang", "rust"]);
    assert_eq!(refused.code, 2);
    assert!(
        refused
            .stderr
            .starts_with("exorun: error: 'My_Plugin' cannot be a plugin name"),
        "{}",
        refused.stderr
    );
    assert!(!tmp.path().join("My_Plugin").exists());
}
