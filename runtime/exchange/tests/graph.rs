//! The Graph client for key rotation against `exorun-sim`: reading the
//! app's keys, `addKey` and `removeKey` with a proof of possession, and the
//! refusals a rotation must turn into clear errors.

use std::sync::Arc;

use exorun_exchange::graph::GraphError;
use exorun_exchange::{
    AuthError, Certificate, CertificateSource, ConnectOptions, Connection, generate_self_signed,
};
use exorun_sim::{RunningSim, SimConfig, TenantSource};

struct Sim {
    sim: RunningSim,
    _dir: tempfile::TempDir,
}

async fn start() -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig {
        tenant: TenantSource::Generate {
            mailboxes: 3,
            seed: 21,
        },
        state_dir: dir.path().to_path_buf(),
        ..SimConfig::default()
    };
    Sim {
        sim: exorun_sim::start(config).await.unwrap(),
        _dir: dir,
    }
}

fn connect(sim: &RunningSim) -> Connection {
    let info = &sim.info;
    ConnectOptions::new(
        &info.initial_domain,
        &info.app_id,
        CertificateSource::Pfx {
            path: info.client_certificate_pfx.clone(),
            password: info.client_certificate_pfx_password.clone().into(),
        },
    )
    .authority_url(&info.login_base)
    .exchange_url(&info.exchange_base)
    .graph_url(&info.graph_base)
    .extra_ca_pem(&info.ca_pem)
    .system_proxy(false)
    .connect()
    .unwrap()
}

fn fresh(subject: &str) -> Arc<Certificate> {
    Arc::new(generate_self_signed(subject, 30, 2048).unwrap().certificate)
}

fn current(connection: &Connection) -> Arc<Certificate> {
    Arc::new(connection.certificate().unwrap().clone())
}

fn is_bad_request(e: &GraphError, text: &str) -> bool {
    matches!(e, GraphError::Service { status: 400, code, message, .. }
        if code == "Request_BadRequest" && message.contains(text))
}

#[tokio::test]
async fn the_application_lists_its_certificate_by_thumbprint() {
    let s = start().await;
    let conn = connect(&s.sim);
    let graph = conn.graph(current(&conn)).unwrap();
    let app = graph.application(&s.sim.info.app_id).await.unwrap();
    assert_eq!(app.id, s.sim.info.application_object_id);
    assert_eq!(app.app_id, s.sim.info.app_id);
    assert_eq!(app.key_credentials.len(), 1);
    assert!(app.key_credentials[0].is_certificate(&s.sim.info.client_certificate_thumbprint));
}

#[tokio::test]
async fn a_key_added_signs_in_and_once_removed_no_longer_does() {
    let s = start().await;
    let conn = connect(&s.sim);
    let old = current(&conn);
    let graph = conn.graph(Arc::clone(&old)).unwrap();
    let info = &s.sim.info;
    let new = fresh("CN=next");
    let added = graph
        .add_key(&info.app_id, &info.application_object_id, &new, &old)
        .await
        .unwrap();
    assert!(added.is_certificate(&new.thumbprint_sha1_hex()));
    let claims = conn.sign_in_with(Arc::clone(&new)).await.unwrap();
    assert_eq!(claims.appid.as_deref(), Some(info.app_id.as_str()));

    graph
        .remove_key(
            &info.app_id,
            &info.application_object_id,
            &added.key_id,
            &old,
        )
        .await
        .unwrap();
    match conn.sign_in_with(new).await {
        Err(AuthError::Refused(e)) => assert_eq!(e.code, Some(700027), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_proof_signed_by_an_unregistered_certificate_is_refused() {
    let s = start().await;
    let conn = connect(&s.sim);
    let graph = conn.graph(current(&conn)).unwrap();
    let info = &s.sim.info;
    let stranger = fresh("CN=stranger");
    let e = graph
        .add_key(
            &info.app_id,
            &info.application_object_id,
            &fresh("CN=x"),
            &stranger,
        )
        .await
        .unwrap_err();
    assert!(is_bad_request(&e, "proof"), "{e}");
    assert_eq!(
        s.sim
            .directory()
            .app(&info.app_id)
            .unwrap()
            .certificates
            .len(),
        1
    );
}

#[tokio::test]
async fn a_proof_naming_another_object_id_is_refused() {
    let s = start().await;
    let conn = connect(&s.sim);
    let old = current(&conn);
    let graph = conn.graph(Arc::clone(&old)).unwrap();
    let e = graph
        .add_key(
            &s.sim.info.app_id,
            "11111111-2222-3333-4444-555555555555",
            &fresh("CN=x"),
            &old,
        )
        .await
        .unwrap_err();
    assert!(is_bad_request(&e, "proof"), "{e}");
}

#[tokio::test]
async fn the_key_that_signs_the_proof_and_so_the_last_key_cannot_be_removed() {
    let s = start().await;
    let conn = connect(&s.sim);
    let old = current(&conn);
    let graph = conn.graph(Arc::clone(&old)).unwrap();
    let info = &s.sim.info;
    let app = graph.application(&info.app_id).await.unwrap();
    let e = graph
        .remove_key(
            &info.app_id,
            &info.application_object_id,
            &app.key_credentials[0].key_id,
            &old,
        )
        .await
        .unwrap_err();
    assert!(is_bad_request(&e, "cannot be removed"), "{e}");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn adding_a_key_twice_is_refused() {
    let s = start().await;
    let conn = connect(&s.sim);
    let old = current(&conn);
    let graph = conn.graph(Arc::clone(&old)).unwrap();
    let info = &s.sim.info;
    let e = graph
        .add_key(&info.app_id, &info.application_object_id, &old, &old)
        .await
        .unwrap_err();
    assert!(is_bad_request(&e, "already exists"), "{e}");
}

#[tokio::test]
async fn an_unknown_app_is_not_found() {
    let s = start().await;
    let conn = connect(&s.sim);
    let graph = conn.graph(current(&conn)).unwrap();
    let e = graph
        .application("99999999-8888-7777-6666-555555555555")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GraphError::Service { status: 404, code, .. } if code == "Request_ResourceNotFound"),
        "{e}"
    );
}

#[tokio::test]
async fn a_graph_outage_is_retried_then_reported_as_transient() {
    let s = start().await;
    let conn = connect(&s.sim);
    let graph = conn.graph(current(&conn)).unwrap();
    s.sim.faults().set(exorun_sim::FaultConfig {
        graph_outage_after: Some(0),
        ..exorun_sim::FaultConfig::default()
    });
    let before = s.sim.graph_requests();
    let e = graph.application(&s.sim.info.app_id).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(matches!(e, GraphError::Service { status: 503, .. }), "{e}");
    assert_eq!(s.sim.graph_requests() - before, 3);
}
