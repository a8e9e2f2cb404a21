//! `exorun new <dir> --lang rust|python|js`: a plugin folder that builds and
//! runs as is. Its manifest declares no cmdlet yet, so it can do nothing to
//! a tenant until its author says what it needs; its logic sits in a module
//! without host calls, with a unit test in the language's own test runner.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use exorun_build::Toolchain;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(clap::Args)]
pub struct Args {
    /// The folder to create; its last part is the plugin's name
    /// (lowercase letters, digits and dashes).
    dir: PathBuf,
    /// The language to write the plugin in.
    #[arg(long, value_enum)]
    lang: Lang,
}

const MANIFEST: &str = include_str!("../../templates/exorun.toml");

/// (path in the plugin folder, template text) per language.
fn files(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::Rust => &[
            (
                "Cargo.toml",
                include_str!("../../templates/rust/Cargo.toml"),
            ),
            (
                "src/lib.rs",
                include_str!("../../templates/rust/src/lib.rs"),
            ),
            (
                "src/report.rs",
                include_str!("../../templates/rust/src/report.rs"),
            ),
        ],
        Lang::Python => &[
            ("app.py", include_str!("../../templates/python/app.py")),
            (
                "report.py",
                include_str!("../../templates/python/report.py"),
            ),
            (
                "test_report.py",
                include_str!("../../templates/python/test_report.py"),
            ),
        ],
        Lang::Js => &[
            (
                "package.json",
                include_str!("../../templates/js/package.json"),
            ),
            ("index.js", include_str!("../../templates/js/index.js")),
            ("report.js", include_str!("../../templates/js/report.js")),
            (
                "report.test.js",
                include_str!("../../templates/js/report.test.js"),
            ),
        ],
    }
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let name = plugin_name(&args.dir)?;
    if args.dir.exists()
        && std::fs::read_dir(&args.dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; choose a new folder",
            args.dir.display()
        );
    }
    let mut vars = vec![
        ("{{name}}", name.clone()),
        ("{{component}}", format!("{}.wasm", name.replace('-', "_"))),
    ];
    if let Lang::Rust = args.lang {
        vars.push(("{{rust_sdk}}", rust_sdk_path(&args.dir)?));
    }
    let fill = |template: &str| {
        vars.iter().fold(template.to_owned(), |text, (key, value)| {
            text.replace(key, value)
        })
    };
    let mut written = vec![("exorun.toml", fill(MANIFEST))];
    written.extend(files(args.lang).iter().map(|(p, t)| (*p, fill(t))));
    for (rel, text) in &written {
        let path = args.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let dir = args.dir.display();
    let test = match args.lang {
        Lang::Rust => format!("cargo test --manifest-path {dir}/Cargo.toml"),
        Lang::Python => format!("cd {dir} && python3 -m unittest"),
        Lang::Js => format!("cd {dir} && node --test"),
    };
    println!(
        "created {name} in {dir}: {}\n\nnext:\n  exorun build {dir}        # build and pin the component's digest\n  exorun run {dir}          # run it against the simulated tenant\n  {test}\n\nThen declare the cmdlets it needs in {dir}/exorun.toml; every other call is denied.",
        written
            .iter()
            .map(|(p, _)| *p)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// The folder's last part, checked as the manifest will check it.
fn plugin_name(dir: &Path) -> anyhow::Result<String> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} does not end in a folder name", dir.display()))?;
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if !valid {
        bail!(
            "'{name}' cannot be a plugin name: use 1-64 lowercase letters, digits and dashes, starting with a letter or digit (the folder's name is the plugin's name)"
        );
    }
    Ok(name.to_owned())
}

/// The Rust SDK's folder as the new Cargo.toml should name it: relative
/// when the plugin sits inside the exorun checkout, absolute otherwise.
fn rust_sdk_path(dir: &Path) -> anyhow::Result<String> {
    let parent = std::path::absolute(dir)
        .context("resolving the plugin folder")?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let root = Toolchain::discover(&parent)
        .root()
        .map(Path::to_path_buf)
        .context("a Rust plugin depends on the exorun Rust SDK (sdk/rust), but no exorun checkout was found above the folder or the exorun binary, and the copy bundled into exorun could not be unpacked into its data folder (set XDG_DATA_HOME or HOME to a writable place)")?;
    let sdk = root.join("sdk/rust");
    let plugin = std::path::absolute(dir)?;
    let inside = plugin.starts_with(&root);
    Ok(relative(&plugin, &sdk)
        .filter(|_| inside)
        .unwrap_or(sdk)
        .to_string_lossy()
        .replace('\\', "/"))
}

/// `to` relative to `from`, when both are normal absolute paths.
fn relative(from: &Path, to: &Path) -> Option<PathBuf> {
    let normal = |p: &Path| {
        p.components().all(|c| {
            matches!(
                c,
                Component::RootDir | Component::Normal(_) | Component::Prefix(_)
            )
        })
    };
    if !normal(from) || !normal(to) {
        return None;
    }
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for c in &to[common..] {
        path.push(c);
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_path_climbs_to_the_common_folder() {
        assert_eq!(
            relative(Path::new("/repo/plugins/x"), Path::new("/repo/sdk/rust")),
            Some(PathBuf::from("../../sdk/rust"))
        );
    }

    #[test]
    fn rejects_a_name_the_manifest_would_reject() {
        let err = plugin_name(Path::new("/tmp/My_Plugin")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("'My_Plugin' cannot be a plugin name")
        );
    }
}
