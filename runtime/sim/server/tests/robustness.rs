//! Hostile or broken input: every answer is a status with a JSON body,
//! never a panic, a hang or a dropped server.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A name, the content type sent, the body, the status and error code expected.
type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);

#[tokio::test]
async fn garbage_bodies_get_a_status_and_a_json_body() {
    let sim = start().await;
    let token = token(&sim).await;
    let deep = {
        let mut b =
            String::from(r#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"X":"#);
        b.push_str(&"[".repeat(100_000));
        b.push_str(&"]".repeat(100_000));
        b.push_str("}}}");
        b.into_bytes()
    };
    let huge = {
        let mut b = br#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"X":""#.to_vec();
        b.extend(std::iter::repeat_n(b'a', 1_100_000));
        b.extend(br#""}}}"#);
        b
    };
    let cases: Vec<Case> = vec![
        ("random bytes", Some("application/json"), vec![0xff, 0x00, 0x13, 0x37, 0xfe], 400, "BadRequest"),
        ("empty body", Some("application/json"), Vec::new(), 400, "BadRequest"),
        ("json but not a call", Some("application/json"), br#"{"hello":"world"}"#.to_vec(), 400, "BadRequest"),
        ("array", Some("application/json"), b"[1,2,3]".to_vec(), 400, "BadRequest"),
        ("no cmdlet name", Some("application/json"), br#"{"CmdletInput":{"Parameters":{}}}"#.to_vec(), 400, "BadRequest"),
        ("float parameter", Some("application/json"), br#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"ResultSize":1.5}}}"#.to_vec(), 400, "BadRequest"),
        ("nested object", Some("application/json"), br#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"Identity":{"a":{"b":1}}}}}"#.to_vec(), 400, "BadRequest"),
        ("100,000-deep array", Some("application/json"), deep, 400, "BadRequest"),
        ("text/plain", Some("text/plain"), br#"{"CmdletInput":{"CmdletName":"Get-Mailbox"}}"#.to_vec(), 415, "UnsupportedMediaType"),
        ("no content type", None, br#"{"CmdletInput":{"CmdletName":"Get-Mailbox"}}"#.to_vec(), 415, "UnsupportedMediaType"),
        ("over 1 MiB", Some("application/json"), huge, 413, "RequestEntityTooLarge"),
    ];
    for (name, content_type, body, status, code) in cases {
        let mut request = invoke(&sim, &token, &sim.info.invoke_command_url).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{name}");
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(body["error"]["code"], code, "{name}: {body}");
    }
    // Still serving.
    assert_eq!(
        invoke_json(
            &sim,
            &token,
            &cmdlet("Get-Mailbox", json!({"Identity": "jose.nunez"}))
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_bodies() {
    let sim = start().await;
    let base = &sim.info.login_base;
    for (method, path, status, code) in [
        ("GET", "/nothing/here", 404, "NotFound"),
        ("POST", "/adminapi/v1.0/x/InvokeCommand", 404, "NotFound"),
        (
            "GET",
            &format!("/adminapi/beta/{}/InvokeCommand", sim.info.tenant_id),
            405,
            "MethodNotAllowed",
        ),
        (
            "GET",
            &format!("/{}/oauth2/v2.0/token", sim.info.tenant_id),
            405,
            "MethodNotAllowed",
        ),
    ] {
        let response = sim
            .http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{method} {path}");
    }
}

#[tokio::test]
async fn a_token_request_with_garbage_is_an_entra_error() {
    let sim = start().await;
    let url = token_url_v2(&sim.info);
    for (content_type, body) in [
        (
            "application/x-www-form-urlencoded",
            vec![0xff, 0xfe, 0x00, b'=', b'&'],
        ),
        (
            "application/json",
            br#"{"grant_type":"client_credentials"}"#.to_vec(),
        ),
        (
            "application/x-www-form-urlencoded",
            b"grant_type=client_credentials&grant_type=password".to_vec(),
        ),
    ] {
        let response = sim
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
    }
    let huge = vec![b'a'; 1_100_000];
    let response = sim
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
}

#[tokio::test]
async fn plain_text_and_half_handshakes_do_not_hurt_the_server() {
    let sim = start().await;
    let address = format!("127.0.0.1:{}", sim.info.port);
    // Plain HTTP on the TLS port: the server ends the connection.
    let mut plain = tokio::net::TcpStream::connect(&address).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), plain.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "the server must close, not hang"
    );
    // A connection that says nothing, left open while others are served.
    let _silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    let token = token(&sim).await;
    assert_eq!(
        invoke_json(
            &sim,
            &token,
            &cmdlet("Get-Mailbox", json!({"Identity": "jose.nunez"}))
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn undecodable_path_segments_and_queries_get_json_bodies() {
    let sim = start().await;
    let base = &sim.info.login_base;
    let response = sim
        .http
        .post(format!("{base}/%FF%FE/oauth2/v2.0/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BadRequest");
    let response = sim
        .http
        .get(format!(
            "{base}/common/discovery/instance?authorization_endpoint=%FF&&=&api-version"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["tenant_discovery_endpoint"].is_string());
}
