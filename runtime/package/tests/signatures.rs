//! Signatures and the trust policy: what is accepted, and the exact reason
//! for everything that is not.

use exorun_package::PackageName;
use exorun_package::signing::{self, PublicKey, Signature, SignatureError, SigningKey};
use exorun_package::trust::TrustPolicy;
use secrecy::SecretString;

const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
const OTHER: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000002";

struct Publisher {
    key: SigningKey,
    public: PublicKey,
}

fn publisher() -> Publisher {
    let password = SecretString::from("correct horse");
    let files = signing::generate(&password).unwrap();
    Publisher {
        key: SigningKey::open(&files.secret, &password).unwrap(),
        public: PublicKey::parse(&files.public).unwrap(),
    }
}

fn name(text: &str) -> PackageName {
    PackageName::parse(text).unwrap()
}

fn policy(dir: &tempfile::TempDir, trusted: &[(&Publisher, &str, &[&str])]) -> TrustPolicy {
    let mut policy = TrustPolicy::load(&dir.path().join("trust.toml")).unwrap();
    for (publisher, who, namespaces) in trusted {
        let namespaces: Vec<String> = namespaces.iter().map(|s| s.to_string()).collect();
        policy
            .add(&publisher.public, who, &namespaces, "2026-12-02T00:00:00Z")
            .unwrap();
    }
    policy
}

/// A publisher, and a policy trusting their key as "Contoso IT" for the
/// namespace contoso (kept in the returned folder).
fn trusted_contoso() -> (Publisher, tempfile::TempDir, TrustPolicy) {
    let contoso = publisher();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(&dir, &[(&contoso, "Contoso IT", &["contoso"])]);
    (contoso, dir, policy)
}

#[test]
fn accepts_a_signature_by_a_key_trusted_for_the_namespace() {
    let (contoso, _dir, policy) = trusted_contoso();
    let signature = contoso
        .key
        .sign(&name("contoso/forwarding"), DIGEST)
        .unwrap();
    let signer = policy
        .check(&signature, &name("contoso/forwarding"), DIGEST)
        .unwrap();
    assert_eq!(signer.publisher, "Contoso IT");
    assert_eq!(signer.key_id, contoso.public.key_id);
    assert_eq!(signer.key_id.len(), 16);
}

#[test]
fn the_policy_survives_a_save_and_a_load() {
    let contoso = publisher();
    let dir = tempfile::tempdir().unwrap();
    policy(&dir, &[(&contoso, "Contoso IT", &["contoso", "contoso-*"])])
        .save()
        .unwrap();
    let loaded = TrustPolicy::load(&dir.path().join("trust.toml")).unwrap();
    assert_eq!(loaded.keys().len(), 1);
    assert_eq!(loaded.keys()[0].namespaces, ["contoso", "contoso-*"]);
    let signature = contoso.key.sign(&name("contoso-it/x"), DIGEST).unwrap();
    assert!(
        loaded
            .check(&signature, &name("contoso-it/x"), DIGEST)
            .is_ok()
    );
}

#[test]
fn refuses_a_key_the_policy_does_not_hold() {
    let contoso = publisher();
    let stranger = publisher();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(&dir, &[(&contoso, "Contoso IT", &["contoso"])]);
    let signature = stranger
        .key
        .sign(&name("contoso/forwarding"), DIGEST)
        .unwrap();
    let error = policy
        .check(&signature, &name("contoso/forwarding"), DIGEST)
        .unwrap_err();
    assert!(
        matches!(&error, SignatureError::UnknownKey { key_id } if *key_id == stranger.public.key_id),
        "{error}"
    );
}

#[test]
fn refuses_a_trusted_key_outside_its_namespaces() {
    let contoso = publisher();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(&dir, &[(&contoso, "Contoso IT", &["contoso", "contoso/*"])]);
    let signature = contoso
        .key
        .sign(&name("fabrikam/forwarding"), DIGEST)
        .unwrap();
    let error = policy
        .check(&signature, &name("fabrikam/forwarding"), DIGEST)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "key {0} (Contoso IT) is trusted for namespaces [contoso, contoso/*], not for 'fabrikam'; to trust it there too: exorun trust add <public key> --publisher 'Contoso IT' --namespace 'fabrikam'",
            contoso.public.key_id
        )
    );
}

#[test]
fn refuses_a_signature_over_another_digest() {
    let (contoso, _dir, policy) = trusted_contoso();
    let signature = contoso
        .key
        .sign(&name("contoso/forwarding"), OTHER)
        .unwrap();
    let error = policy
        .check(&signature, &name("contoso/forwarding"), DIGEST)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the signature by Contoso IT (key {}) is over {OTHER}, not over this artifact {DIGEST}",
            contoso.public.key_id
        )
    );
}

#[test]
fn refuses_a_signature_made_for_another_name() {
    let (contoso, _dir, policy) = trusted_contoso();
    let signature = contoso.key.sign(&name("contoso/harmless"), DIGEST).unwrap();
    let error = policy
        .check(&signature, &name("contoso/forwarding"), DIGEST)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("is for contoso/harmless, not for contoso/forwarding"),
        "{error}"
    );
}

#[test]
fn refuses_an_altered_statement_or_signature() {
    let (contoso, _dir, policy) = trusted_contoso();
    let good = contoso
        .key
        .sign(&name("contoso/forwarding"), DIGEST)
        .unwrap();
    // The statement edited to claim another digest, signature kept.
    let mut edited = good.clone();
    edited.payload = String::from_utf8(good.payload.clone())
        .unwrap()
        .replace(DIGEST, OTHER)
        .into_bytes();
    let error = policy
        .check(&edited, &name("contoso/forwarding"), OTHER)
        .unwrap_err();
    assert!(matches!(error, SignatureError::Bad { .. }), "{error}");
    // The trusted comment edited: the global signature no longer holds.
    let mut comment = good.clone();
    comment.minisig = good.minisig.replace("exorun plugin", "exorun plugin!");
    let error = policy
        .check(&comment, &name("contoso/forwarding"), DIGEST)
        .unwrap_err();
    assert!(matches!(error, SignatureError::Bad { .. }), "{error}");
}

#[test]
fn malformed_signature_text_is_an_error_not_a_panic() {
    let (contoso, _dir, policy) = trusted_contoso();
    let good = contoso
        .key
        .sign(&name("contoso/forwarding"), DIGEST)
        .unwrap();
    let lines: Vec<&str> = good.minisig.lines().collect();
    let cases = [
        ("", "a minisign signature has four lines"),
        ("one line", "a minisign signature has four lines"),
        (
            &format!("{}\n{}\n{}\nAAAA", lines[0], lines[1], lines[2]) as &str,
            "the global signature is not 64 bytes",
        ),
        (
            &format!("{}\n!!!\n{}\n{}", lines[0], lines[2], lines[3]),
            "the signature line is not base64",
        ),
        (
            &format!("{}\nAAAA\n{}\n{}", lines[0], lines[2], lines[3]),
            "the signature line is not 74 bytes",
        ),
        (
            &format!("{}\n{}\nnot a comment\n{}", lines[0], lines[1], lines[3]),
            "the third line is not a trusted comment",
        ),
    ];
    for (text, says) in cases {
        let signature = Signature {
            payload: good.payload.clone(),
            minisig: text.to_owned(),
        };
        let error = policy
            .check(&signature, &name("contoso/forwarding"), DIGEST)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("the signature is malformed: {says}")
        );
    }
}

#[test]
fn a_wrong_password_does_not_open_the_key() {
    let files = signing::generate(&SecretString::from("right")).unwrap();
    let error = SigningKey::open(&files.secret, &SecretString::from("wrong"))
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "the secret key could not be decrypted: wrong password, or not a minisign secret key"
    );
    assert!(signing::generate(&SecretString::from("")).is_err());
}

#[test]
fn public_keys_parse_from_the_file_or_the_line_and_nothing_else() {
    let files = signing::generate(&SecretString::from("pw")).unwrap();
    let whole = PublicKey::parse(&files.public).unwrap();
    let line = files.public.lines().nth(1).unwrap();
    assert_eq!(PublicKey::parse(line).unwrap().key_id, whole.key_id);
    assert_eq!(whole.key_id, files.key_id);
    for bad in ["", "RWQ", "not a key", &"A".repeat(56)] {
        assert!(PublicKey::parse(bad).is_err(), "{bad}");
    }
}
