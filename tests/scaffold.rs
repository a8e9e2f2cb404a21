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
    assert!(manifest.capabilities().cmdlets().is_empty());
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

/// The exorun binary as a user who installed it has it: alone in a folder
/// outside any checkout, with its own data folder (where it unpacks the
/// SDKs it carries).
struct Installed {
    tmp: tempfile::TempDir,
}

impl Installed {
    fn new() -> Installed {
        let tmp = tempfile::tempdir().unwrap();
        assert!(
            !tmp.path().starts_with(exorun_e2e::repo_root()),
            "the temp folder must be outside the checkout"
        );
        std::fs::create_dir_all(tmp.path().join("bin")).unwrap();
        std::fs::create_dir_all(tmp.path().join("work")).unwrap();
        let binary = tmp.path().join("bin/exorun");
        std::fs::hard_link(exorun_e2e::exorun_binary(), &binary)
            .or_else(|_| std::fs::copy(exorun_e2e::exorun_binary(), &binary).map(|_| ()))
            .unwrap();
        Installed { tmp }
    }

    fn data(&self) -> std::path::PathBuf {
        self.tmp.path().join("data")
    }

    fn work(&self) -> std::path::PathBuf {
        self.tmp.path().join("work")
    }

    fn exorun(&self, args: &[&str], env: &[(&str, &Path)]) -> Exorun {
        let mut command = std::process::Command::new(self.tmp.path().join("bin/exorun"));
        command
            .args(args)
            .current_dir(self.work())
            .env_remove("EXORUN_LOG")
            .env_remove("EXORUN_AUDIT_LOG")
            .env_remove("EXORUN_PYTHON_SDK")
            .env_remove("EXORUN_JS_SDK")
            .env_remove("EXORUN_COMPONENTIZE_PY")
            .env("XDG_DATA_HOME", self.data())
            .env("EXORUN_CACHE_DIR", self.tmp.path().join("cache"))
            .env("PYTHONDONTWRITEBYTECODE", "1");
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().expect("run the installed exorun");
        Exorun {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Where the bundled SDKs were unpacked.
    fn unpacked(&self) -> std::path::PathBuf {
        exorun_build::bundled::folder_in(&self.data().join("exorun"))
    }

    fn new_build_run(&self, lang: &str, env: &[(&str, &Path)]) {
        let name = format!("hello-{lang}");
        let created = self.exorun(&["new", &name, "--lang", lang], env);
        assert_eq!(created.code, 0, "exorun new: {}", created.stderr);
        let built = self.exorun(&["build", &name], env);
        assert_eq!(built.code, 0, "exorun build: {}", built.stderr);
        let run = self.exorun(&["run", &name, "--quiet", "--input", "name=Ann"], env);
        assert_greets(lang, &run);
    }
}

#[test]
fn an_installed_binary_creates_builds_and_runs_a_rust_plugin_outside_any_checkout() {
    let installed = Installed::new();
    installed.new_build_run("rust", &[]);
    // The plugin's Cargo.toml names the SDK the binary unpacked.
    let cargo = std::fs::read_to_string(installed.work().join("hello-rust/Cargo.toml")).unwrap();
    let sdk = installed.unpacked().join("sdk/rust");
    assert!(
        cargo.contains(&format!("path = \"{}\"", sdk.display())),
        "{cargo}"
    );
}

#[test]
fn an_installed_binary_builds_a_python_plugin_with_its_bundled_sdk() {
    let installed = Installed::new();
    // The one thing not bundled: componentize-py, named by the error.
    let created = installed.exorun(&["new", "hello-python", "--lang", "python"], &[]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let no_tool = installed.exorun(
        &["build", "hello-python"],
        &[("PATH", Path::new("/usr/bin:/bin"))],
    );
    assert_eq!(no_tool.code, 2, "{}", no_tool.stderr);
    assert!(
        no_tool
            .stderr
            .contains("pip install componentize-py==0.25.1"),
        "{}",
        no_tool.stderr
    );
    let componentize = exorun_e2e::repo_root().join(".venv/bin/componentize-py");
    let env = [("EXORUN_COMPONENTIZE_PY", componentize.as_path())];
    let built = installed.exorun(&["build", "hello-python"], &env);
    assert_eq!(built.code, 0, "exorun build: {}", built.stderr);
    let run = installed.exorun(
        &["run", "hello-python", "--quiet", "--input", "name=Ann"],
        &env,
    );
    assert_greets("python", &run);
}

#[test]
fn an_installed_binary_names_the_npm_command_its_js_sdk_needs_then_builds() {
    let installed = Installed::new();
    let created = installed.exorun(&["new", "hello-js", "--lang", "js"], &[]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let missing = installed.exorun(&["build", "hello-js"], &[]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    let sdk = installed.unpacked().join("sdk/js");
    let wanted = format!(
        "install its pinned packages with `npm ci --prefix {}`",
        sdk.display()
    );
    assert!(missing.stderr.contains(&wanted), "{}", missing.stderr);
    // What that command installs, from the checkout's own install of the
    // same lock file (tests do not reach the npm registry).
    std::os::unix::fs::symlink(
        exorun_e2e::repo_root().join("sdk/js/node_modules"),
        sdk.join("node_modules"),
    )
    .unwrap();
    let built = installed.exorun(&["build", "hello-js"], &[]);
    assert_eq!(built.code, 0, "exorun build: {}", built.stderr);
    let run = installed.exorun(&["run", "hello-js", "--quiet", "--input", "name=Ann"], &[]);
    assert_greets("js", &run);
}

#[test]
fn a_rust_plugin_copied_out_of_the_workspace_is_told_how_to_build_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let source = exorun_e2e::repo_root().join("plugins/mailbox-report");
    let copy = tmp.path().join("mailbox-report");
    std::fs::create_dir_all(copy.join("src")).unwrap();
    for file in ["Cargo.toml", "exorun.toml", "src/lib.rs"] {
        std::fs::copy(source.join(file), copy.join(file)).unwrap();
    }
    let built = exorun_in(tmp.path(), &["build", "mailbox-report"]);
    assert_eq!(built.code, 2, "{}", built.stderr);
    assert!(
        built.stderr.contains("takes its dependencies from a Cargo workspace (`.workspace = true`) that is not above its folder"),
        "{}",
        built.stderr
    );
    let sdk = exorun_e2e::repo_root().join("sdk/rust");
    assert!(
        built
            .stderr
            .contains(&format!("exorun-sdk = {{ path = \"{}\" }}", sdk.display())),
        "{}",
        built.stderr
    );
}
