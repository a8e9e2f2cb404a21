use std::time::Duration;

use super::*;
use crate::InputValue;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(Path::new("plugins/demo/exorun.toml"), text)
}

fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const PLUGIN: &str = r#"
[plugin]
name = "demo"
version = "1.0.0"
component = "demo.wasm"
"#;

#[test]
fn minimal_manifest_gets_safe_default_limits_and_no_cmdlets() {
    let m = parse(PLUGIN).unwrap();
    assert_eq!(m.plugin.name, "demo");
    assert_eq!(m.plugin.component, Path::new("plugins/demo/demo.wasm"));
    assert_eq!(m.plugin.sha256, None);
    assert!(m.capabilities().cmdlets().is_empty());
    assert_eq!(m.limits(), Limits::default());
}

#[test]
fn full_manifest_is_read_with_constraints_inputs_and_limits() {
    let text = format!(
        r#"{PLUGIN}sha256 = "{}"

[[cmdlet]]
name = "Get-Mailbox"
[cmdlet.parameters]
ResultSize = {{ set = ["Unlimited"] }}
Identity = {{}}

[[cmdlet]]
name = "Set-Mailbox"
parameters.Identity = {{ pattern = '[^@]+@contoso\.com' }}
parameters.ForwardingSmtpAddress = {{ set = ["$null"] }}

[inputs.domain]
type = "string"
default = "contoso.com"

[limits]
memory-mib = 32
timeout-seconds = 20
max-calls = 50
"#,
        "AB".repeat(32)
    );
    let m = parse(&text).unwrap();
    assert_eq!(m.plugin.sha256.as_deref(), Some("ab".repeat(32).as_str()));
    let get = m.capabilities().cmdlet("get-mailbox").unwrap();
    assert!(get.read_only);
    assert_eq!(get.parameters.len(), 2);
    let set = m.capabilities().cmdlet("SET-MAILBOX").unwrap();
    assert!(!set.read_only);
    assert_eq!(
        set.parameter("forwardingsmtpaddress")
            .unwrap()
            .constraint
            .to_string(),
        "one of [$null]"
    );
    assert_eq!(
        m.inputs()[0].default,
        Some(InputValue::Text("contoso.com".into()))
    );
    assert_eq!(
        m.limits(),
        Limits {
            memory_mib: 32,
            timeout: Duration::from_secs(20),
            max_calls: 50,
            calls_per_second: None,
            weight: 1,
        }
    );
}

#[test]
fn unknown_key_is_rejected_with_line_and_column() {
    let text = format!("{PLUGIN}\n[[cmdlet]]\nname = \"Get-Mailbox\"\nallow_all = true\n");
    assert_eq!(
        error_of(&text),
        "plugins/demo/exorun.toml:9:1: unknown field `allow_all`, expected `name` or `parameters`"
    );
}

#[test]
fn duplicate_cmdlet_is_rejected_at_its_second_declaration() {
    let text = format!(
        "{PLUGIN}\n[[cmdlet]]\nname = \"Get-Mailbox\"\n\n[[cmdlet]]\nname = \"get-mailbox\"\n"
    );
    assert_eq!(
        error_of(&text),
        "plugins/demo/exorun.toml:11:8: cmdlet get-mailbox is declared twice; merge its [[cmdlet]] tables into one (exorun never merges grants)"
    );
}

#[test]
fn bad_regex_is_rejected_naming_cmdlet_and_parameter() {
    let text = format!(
        "{PLUGIN}\n[[cmdlet]]\nname = \"Get-Mailbox\"\nparameters.Identity = {{ pattern = \"(unclosed\" }}\n"
    );
    assert_eq!(
        error_of(&text),
        "plugins/demo/exorun.toml:9:35: pattern for Get-Mailbox -Identity is not a valid regular expression: unclosed group"
    );
}

#[test]
fn non_verb_noun_cmdlet_name_is_rejected() {
    let text = format!("{PLUGIN}\n[[cmdlet]]\nname = \"Mailbox\"\n");
    assert_eq!(
        error_of(&text),
        "plugins/demo/exorun.toml:8:8: 'Mailbox' is not a cmdlet name of the form Verb-Noun (like Get-Mailbox)"
    );
}

#[test]
fn wildcard_cmdlet_names_are_not_verb_noun() {
    let text = format!("{PLUGIN}\n[[cmdlet]]\nname = \"Get-*\"\n");
    assert!(error_of(&text).contains("'Get-*' is not a cmdlet name of the form Verb-Noun"));
}

#[test]
fn parameter_declared_twice_in_different_case_is_rejected() {
    let text = format!(
        "{PLUGIN}\n[[cmdlet]]\nname = \"Get-Mailbox\"\nparameters.Identity = {{}}\nparameters.identity = {{}}\n"
    );
    assert!(
        error_of(&text)
            .contains("parameter identity of Get-Mailbox is declared twice (names ignore case)")
    );
}

#[test]
fn set_and_pattern_together_are_rejected() {
    let text = format!(
        "{PLUGIN}\n[[cmdlet]]\nname = \"Get-Mailbox\"\nparameters.Identity = {{ set = [\"a\"], pattern = \"b\" }}\n"
    );
    assert!(error_of(&text).contains("Get-Mailbox -Identity has both set and pattern; keep one"));
}

#[test]
fn empty_set_is_rejected() {
    let text = format!(
        "{PLUGIN}\n[[cmdlet]]\nname = \"Get-Mailbox\"\nparameters.Identity = {{ set = [] }}\n"
    );
    assert!(error_of(&text).contains("has an empty set, which would allow nothing"));
}

#[test]
fn bad_version_and_plugin_name_are_explained() {
    let text = PLUGIN.replace("1.0.0", "one");
    assert!(error_of(&text).contains("version 'one' is not semantic versioning"));
    let text = PLUGIN.replace("\"demo\"", "\"Demo Plugin\"");
    assert!(error_of(&text).contains("plugin name 'Demo Plugin' must be 1-64 lowercase letters"));
}

#[test]
fn malformed_sha256_is_rejected() {
    let text = format!("{PLUGIN}sha256 = \"xyz\"\n");
    assert_eq!(
        error_of(&text),
        "plugins/demo/exorun.toml:6:10: sha256 must be 64 hexadecimal digits; run `exorun build` to record it"
    );
}

#[test]
fn input_default_must_match_its_type() {
    let text = format!("{PLUGIN}\n[inputs.days]\ntype = \"integer\"\ndefault = \"seven\"\n");
    assert_eq!(
        error_of(&text),
        "plugins/demo/exorun.toml:9:11: default of input days must be a integer like its type"
    );
}

#[test]
fn unknown_input_type_is_rejected() {
    let text = format!("{PLUGIN}\n[inputs.days]\ntype = \"float\"\n");
    assert!(
        error_of(&text)
            .contains("input days has type 'float'; use string, integer, boolean or list")
    );
}

#[test]
fn zero_limit_is_rejected() {
    let text = format!("{PLUGIN}\n[limits]\nmax-calls = 0\n");
    assert_eq!(
        error_of(&text),
        "plugins/demo/exorun.toml:8:13: [limits] max-calls must be greater than 0"
    );
}

#[test]
fn missing_plugin_table_is_reported() {
    assert!(error_of("[[cmdlet]]\nname = \"Get-Mailbox\"\n").contains("missing field `plugin`"));
}

#[test]
fn toml_syntax_error_points_at_the_line() {
    let text = format!("{PLUGIN}\n[[cmdlet]\n");
    assert!(
        error_of(&text).starts_with("plugins/demo/exorun.toml:7:"),
        "{}",
        error_of(&text)
    );
}

#[test]
fn no_outputs_table_means_no_folder() {
    assert_eq!(parse(PLUGIN).unwrap().outputs(), None);
}

#[test]
fn an_empty_outputs_table_grants_the_default_folder() {
    let m = parse(&format!("{PLUGIN}\n[outputs]\n")).unwrap();
    assert_eq!(
        m.outputs().copied(),
        Some(crate::Outputs {
            max_mib: 16,
            max_files: 100
        })
    );
}

#[test]
fn outputs_limits_are_read() {
    let m = parse(&format!(
        "{PLUGIN}\n[outputs]\nmax-mib = 2\nmax-files = 3\n"
    ))
    .unwrap();
    assert_eq!(
        m.outputs().copied(),
        Some(crate::Outputs {
            max_mib: 2,
            max_files: 3
        })
    );
}

#[test]
fn outputs_limits_must_be_positive_and_below_the_hard_ceiling() {
    assert_eq!(
        error_of(&format!("{PLUGIN}\n[outputs]\nmax-mib = 0\n")),
        "plugins/demo/exorun.toml:8:11: [outputs] max-mib must be greater than 0 (leave [outputs] out for no folder at all)"
    );
    assert_eq!(
        error_of(&format!("{PLUGIN}\n[outputs]\nmax-files = 10001\n")),
        "plugins/demo/exorun.toml:8:13: [outputs] max-files may be at most 10000"
    );
}

#[test]
fn unknown_outputs_key_is_rejected_with_its_location() {
    let text = format!("{PLUGIN}\n[outputs]\nmax-size = 5\n");
    let error = error_of(&text);
    assert!(
        error.starts_with("plugins/demo/exorun.toml:8:1: unknown field `max-size`"),
        "{error}"
    );
}

#[test]
fn outputs_above_the_operator_ceiling_are_refused_naming_the_flag() {
    let m = parse(&format!("{PLUGIN}\n[outputs]\nmax-mib = 300\n")).unwrap();
    let error = m
        .outputs()
        .unwrap()
        .within(&crate::Ceilings::default())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the plugin asks for 300 MiB of output files, above the operator's ceiling of 256; lower [outputs] max-mib in exorun.toml or raise the ceiling with --max-outputs-mib"
    );
}

#[test]
fn a_manifest_larger_than_the_cap_is_refused_at_once() {
    let mut text = PLUGIN.to_owned();
    text.push_str(&format!(
        "description2 = \"{}\"\n",
        "x".repeat(MAX_MANIFEST_BYTES)
    ));
    assert_eq!(
        error_of(&text),
        format!(
            "plugins/demo/exorun.toml:1:1: the manifest is larger than {MAX_MANIFEST_BYTES} bytes; a manifest declares grants, not data"
        )
    );
}

#[test]
fn patterns_share_one_memory_budget() {
    // Each pattern alone is under the per-pattern cap; together they are
    // far over what a manifest's patterns may take.
    let mut text = format!("{PLUGIN}\n[[cmdlet]]\nname = \"Set-Mailbox\"\n");
    for i in 0..200 {
        text.push_str(&format!("parameters.P{i} = {{ pattern = '\\w{{40}}' }}\n"));
    }
    assert!(text.len() < 41 * 1024);
    let error = error_of(&text);
    assert!(
        error.contains("is not a valid regular expression: it ")
            && error.contains("of the 16777216 bytes all the manifest's patterns may take")
            || error.contains("(the manifest's patterns may take 16777216 bytes in all)"),
        "{error}"
    );
}

#[test]
fn the_case_flag_in_a_pattern_is_refused() {
    let text = format!(
        "{PLUGIN}\n[[cmdlet]]\nname = \"Get-Mailbox\"\nparameters.Identity = {{ pattern = \"(?i)ann\" }}\n"
    );
    assert!(error_of(&text).ends_with(
        "pattern for Get-Mailbox -Identity is not a valid regular expression: drop the (?i) flag: patterns already ignore case, as PowerShell's -match does"
    ));
}
