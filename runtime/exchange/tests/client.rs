//! The InvokeCommand client against local test servers: headers, body,
//! paging, retries, error mapping and the outcome-unknown rule.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Reply, TENANT, TestServer, envelope, with_tokens};
use exorun_cmdlet::{Backend, Call, CmdletError, Leaf, Value};
use exorun_exchange::RetryPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn objects(range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| format!(r#"{{"Name":"mbx{i}","Index":{i}}}"#))
        .collect()
}

#[tokio::test]
async fn a_call_sends_the_module_headers_and_body() {
    let server = TestServer::start(with_tokens(|_, _| Reply::json(200, envelope(&[], None)))).await;
    let conn = common::connect(&server);
    let client = conn.client();
    let call = Call::new("Set-Mailbox")
        .param("Identity", "jdoe@contoso.com")
        .param("HiddenFromAddressListsEnabled", true)
        .param("ForwardingSmtpAddress", Value::Null)
        .param(
            "EmailAddresses",
            Value::Table(vec![(
                "Add".into(),
                Leaf::Texts(vec!["smtp:j@contoso.com".into()]),
            )]),
        );
    assert_eq!(client.invoke(&call).await.unwrap(), Vec::<String>::new());
    let r = &server.invoke_requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, format!("/adminapi/beta/{TENANT}/InvokeCommand"));
    let token = server.requests()[0].clone();
    assert!(token.is_token());
    assert!(r.header("authorization").unwrap().starts_with("Bearer eyJ"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(r.header("accept-charset"), Some("UTF-8"));
    assert_eq!(
        r.header("x-anchormailbox"),
        Some(
            format!("APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{TENANT}").as_str()
        )
    );
    assert_eq!(r.header("x-cmdletname"), Some("Set-Mailbox"));
    assert_eq!(r.header("x-responseformat"), Some("json"));
    assert_eq!(r.header("x-serializationlevel"), Some("Partial"));
    assert_eq!(r.header("prefer"), Some("odata.maxpagesize=1000"));
    assert_eq!(
        r.header("connection-id"),
        Some(client.connection_id().to_string().as_str())
    );
    assert!(uuid::Uuid::parse_str(r.header("client-request-id").unwrap()).is_ok());
    assert_eq!(
        r.body,
        r##"{"CmdletInput":{"CmdletName":"Set-Mailbox","Parameters":{"Identity":"jdoe@contoso.com","HiddenFromAddressListsEnabled":true,"ForwardingSmtpAddress":null,"EmailAddresses":{"@odata.type":"#Exchange.GenericHashTable","Add":["smtp:j@contoso.com"]}}}}"##
    );
}

/// Serves `total` objects in pages of at most `page` (and at most what
/// Prefer asks), linking pages by `$skiptoken`.
fn paging_script(
    base: Arc<std::sync::OnceLock<String>>,
    total: usize,
    page: usize,
) -> impl Fn(&common::Recorded, usize) -> Reply + Send + Sync {
    with_tokens(move |r, _| {
        let start: usize = r
            .target
            .split("$skiptoken=")
            .nth(1)
            .map(|s| s.parse().unwrap())
            .unwrap_or(0);
        let prefer: usize = r
            .header("prefer")
            .unwrap()
            .trim_start_matches("odata.maxpagesize=")
            .parse()
            .unwrap();
        let end = (start + page.min(prefer)).min(total);
        let next = (end < total).then(|| {
            format!(
                "{}/adminapi/beta/{TENANT}/InvokeCommand?$skiptoken={end}",
                base.get().unwrap()
            )
        });
        Reply::json(200, envelope(&objects(start..end), next.as_deref()))
    })
}

#[tokio::test]
async fn unlimited_follows_every_next_link_with_the_same_body_and_request_id() {
    let base = Arc::new(std::sync::OnceLock::new());
    let server = TestServer::start(paging_script(Arc::clone(&base), 2500, 1000)).await;
    base.set(server.url.clone()).unwrap();
    let client = common::connect(&server).client();
    let call = Call::new("Get-Mailbox").param("ResultSize", "Unlimited");
    let all = client.invoke(&call).await.unwrap();
    assert_eq!(all.len(), 2500);
    assert_eq!(all[0], r#"{"Name":"mbx0","Index":0}"#);
    assert_eq!(all[2499], r#"{"Name":"mbx2499","Index":2499}"#);
    let reqs = server.invoke_requests();
    assert_eq!(reqs.len(), 3);
    let targets: Vec<&str> = reqs.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            format!("/adminapi/beta/{TENANT}/InvokeCommand"),
            format!("/adminapi/beta/{TENANT}/InvokeCommand?$skiptoken=1000"),
            format!("/adminapi/beta/{TENANT}/InvokeCommand?$skiptoken=2000"),
        ]
    );
    assert!(reqs.iter().all(|r| r.body == reqs[0].body));
    let id = reqs[0].header("client-request-id").unwrap();
    assert!(
        reqs.iter()
            .all(|r| r.header("client-request-id") == Some(id))
    );
}

#[tokio::test]
async fn result_size_caps_the_total_and_the_page_size_asked_for() {
    let base = Arc::new(std::sync::OnceLock::new());
    let server = TestServer::start(paging_script(Arc::clone(&base), 5000, 1000)).await;
    base.set(server.url.clone()).unwrap();
    let client = common::connect(&server).client();
    let all = client
        .invoke(&Call::new("Get-Mailbox").param("ResultSize", Value::Int(1500)))
        .await
        .unwrap();
    assert_eq!(all.len(), 1500);
    let prefers: Vec<String> = server
        .invoke_requests()
        .iter()
        .map(|r| r.header("prefer").unwrap().to_owned())
        .collect();
    assert_eq!(prefers, ["odata.maxpagesize=1000", "odata.maxpagesize=500"]);
}

#[tokio::test]
async fn no_result_size_means_one_thousand_and_the_link_is_not_followed() {
    let base = Arc::new(std::sync::OnceLock::new());
    let server = TestServer::start(paging_script(Arc::clone(&base), 5000, 1000)).await;
    base.set(server.url.clone()).unwrap();
    let client = common::connect(&server).client();
    let all = client.invoke(&Call::new("Get-Mailbox")).await.unwrap();
    assert_eq!(all.len(), 1000);
    assert_eq!(server.invoke_requests().len(), 1);
}

#[tokio::test]
async fn a_server_that_sends_more_than_asked_is_truncated_client_side() {
    let server = TestServer::start(with_tokens(|_, _| {
        Reply::json(200, envelope(&objects(0..10), None))
    }))
    .await;
    let client = common::connect(&server).client();
    let all = client
        .invoke(&Call::new("Get-Mailbox").param("ResultSize", "3"))
        .await
        .unwrap();
    assert_eq!(all, objects(0..3));
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused_and_never_called() {
    let server = TestServer::start(with_tokens(|_, _| {
        Reply::json(
            200,
            envelope(
                &objects(0..2),
                Some("https://evil.example/adminapi/beta/x/InvokeCommand?$skiptoken=2"),
            ),
        )
    }))
    .await;
    let client = common::connect(&server).client();
    let mut pages = client
        .open_pages(&Call::new("Get-Mailbox").param("ResultSize", "Unlimited"))
        .await
        .unwrap();
    assert_eq!(pages.next_page().await.unwrap(), Some(objects(0..2)));
    let err = pages.next_page().await.unwrap_err();
    let CmdletError::Failed { code, message } = err else {
        panic!("{err:?}")
    };
    assert_eq!(code, "ForeignNextLink");
    assert!(message.contains("evil.example"), "{message}");
    assert_eq!(server.invoke_requests().len(), 1);
}

/// A server that answers the first `times` InvokeCommands 429 with this
/// `Retry-After`, then `then`.
fn throttled_then(
    times: usize,
    retry_after: &'static str,
    then: Reply,
) -> impl Fn(&common::Recorded, usize) -> Reply + Send + Sync + 'static {
    with_tokens(move |_, n| {
        if n < times {
            Reply::json(429, "").header("Retry-After", retry_after)
        } else {
            then.clone()
        }
    })
}

#[tokio::test]
async fn a_429_waits_the_decimal_retry_after_then_succeeds() {
    let server = TestServer::start(throttled_then(
        1,
        "0.3",
        Reply::json(200, envelope(&objects(0..1), None)),
    ))
    .await;
    let client = common::connect(&server).client();
    let started = Instant::now();
    let out = client.invoke(&Call::new("Get-Mailbox")).await.unwrap();
    assert_eq!(out, objects(0..1));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(server.invoke_requests().len(), 2);
}

#[tokio::test]
async fn throttling_is_waited_out_past_six_attempts() {
    // Ten 429s asking for 2 ms each: the module's six attempts would be
    // spent in milliseconds; a throttled call is bounded by time instead.
    let server = TestServer::start(throttled_then(
        10,
        "0.002",
        Reply::json(200, envelope(&objects(0..1), None)),
    ))
    .await;
    let client = common::connect(&server).client();
    let out = client.invoke(&Call::new("Get-Mailbox")).await.unwrap();
    assert_eq!(out, objects(0..1));
    assert_eq!(server.invoke_requests().len(), 11);
}

#[tokio::test]
async fn persistent_throttling_ends_in_throttled_once_the_calls_allowance_is_spent() {
    let server = TestServer::start(with_tokens(|_, _| {
        Reply::json(429, "").header("Retry-After", "0.05")
    }))
    .await;
    let client = common::options(&server.url, &server.url)
        .retry_policy(RetryPolicy {
            max_throttle_wait: Duration::from_millis(400),
            throttle_floor: Duration::from_millis(10),
            ..common::fast_retry()
        })
        .connect()
        .unwrap()
        .client();
    let started = Instant::now();
    let err = client.invoke(&Call::new("Get-Mailbox")).await.unwrap_err();
    let CmdletError::Throttled { retry_after_ms } = err else {
        panic!("{err:?}")
    };
    // The floor doubles per 429 (10, 20, 40, 80, 160 ms …) past the
    // server's 50 ms; the wait that did not fit is what the plugin hears.
    assert!(retry_after_ms >= 50, "{retry_after_ms}");
    assert!(server.invoke_requests().len() >= 3);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn a_tiny_retry_after_is_waited_at_least_the_floor() {
    let server = TestServer::start(throttled_then(
        1,
        "0.001",
        Reply::json(200, envelope(&objects(0..1), None)),
    ))
    .await;
    let client = common::options(&server.url, &server.url)
        .retry_policy(RetryPolicy {
            throttle_floor: Duration::from_millis(150),
            ..common::fast_retry()
        })
        .connect()
        .unwrap()
        .client();
    let started = Instant::now();
    client.invoke(&Call::new("Get-Mailbox")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(server.invoke_requests().len(), 2);
}

#[tokio::test]
async fn a_wait_the_run_deadline_cannot_absorb_goes_to_the_plugin_at_once() {
    let server = TestServer::start(with_tokens(|_, _| {
        Reply::json(429, "").header("Retry-After", "2")
    }))
    .await;
    let client = common::connect(&server).client();
    let deadline = Instant::now() + Duration::from_secs(1);
    let err = exorun_cmdlet::within_deadline(deadline, client.invoke(&Call::new("Get-Mailbox")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CmdletError::Throttled {
            retry_after_ms: 2000
        }
    );
    assert_eq!(server.invoke_requests().len(), 1);
}

#[tokio::test]
async fn a_wait_within_the_run_deadline_is_absorbed() {
    let server = TestServer::start(throttled_then(
        1,
        "0.3",
        Reply::json(200, envelope(&objects(0..1), None)),
    ))
    .await;
    let client = common::connect(&server).client();
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = exorun_cmdlet::within_deadline(deadline, client.invoke(&Call::new("Get-Mailbox")))
        .await
        .unwrap();
    assert_eq!(out, objects(0..1));
    assert_eq!(server.invoke_requests().len(), 2);
}

#[tokio::test]
async fn a_throttled_write_is_retried_like_a_read() {
    // A 429 means the request was refused before it ran.
    let server = TestServer::start(throttled_then(
        3,
        "0.01",
        Reply::json(200, envelope(&[], None)),
    ))
    .await;
    let client = common::connect(&server).client();
    let call = Call::new("Set-Mailbox").param("Identity", "jdoe@contoso.com");
    assert_eq!(client.invoke(&call).await.unwrap(), Vec::<String>::new());
    assert_eq!(server.invoke_requests().len(), 4);
}

#[tokio::test]
async fn the_concurrent_request_limit_error_is_throttling_not_a_failure() {
    // Not a 429, but the service's "too many concurrent requests" text:
    // waited out like a 429, past the six attempts other failures get.
    let server = TestServer::start(with_tokens(|_, n| {
        if n < 8 {
            Reply::json(
                500,
                r#"{"error":{"code":"InternalServerError","message":"You have reached the maximum number of concurrent requests per tenant. Please wait and try again."}}"#,
            )
            .header("Retry-After", "0.01")
        } else {
            Reply::json(200, envelope(&objects(0..1), None))
        }
    }))
    .await;
    let client = common::connect(&server).client();
    let out = client.invoke(&Call::new("Get-Mailbox")).await.unwrap();
    assert_eq!(out, objects(0..1));
    assert_eq!(server.invoke_requests().len(), 9);
    assert_eq!(client.limiter().throttled(), 8);
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_fails_fast_as_throttled() {
    let server = TestServer::start(with_tokens(|_, _| {
        Reply::json(429, "").header("Retry-After", "120")
    }))
    .await;
    let client = common::connect(&server).client();
    let err = client.invoke(&Call::new("Get-Mailbox")).await.unwrap_err();
    assert_eq!(
        err,
        CmdletError::Throttled {
            retry_after_ms: 120_000
        }
    );
    assert_eq!(server.invoke_requests().len(), 1);
}

#[tokio::test]
async fn service_unavailable_and_gateway_timeout_are_retried() {
    let server = TestServer::start(with_tokens(|_, n| match n {
        0 => Reply::json(503, ""),
        1 => Reply::json(504, ""),
        _ => Reply::json(200, envelope(&objects(0..1), None)),
    }))
    .await;
    let client = common::connect(&server).client();
    assert_eq!(
        client.invoke(&Call::new("Set-Mailbox")).await.unwrap(),
        objects(0..1)
    );
    assert_eq!(server.invoke_requests().len(), 3);
}

#[tokio::test]
async fn five_hundred_and_three_six_times_fails() {
    let server = TestServer::start(with_tokens(|_, _| Reply::json(503, ""))).await;
    let client = common::connect(&server).client();
    let err = client.invoke(&Call::new("Get-Mailbox")).await.unwrap_err();
    assert_eq!(err.kind(), "failed");
    assert_eq!(server.invoke_requests().len(), 6);
}

fn error_body(detail: &str) -> String {
    serde_json::json!({"error":{"code":"InternalServerError","message":"Error executing cmdlet",
        "details":[{"code":"Client","target":"","message": detail}]}})
    .to_string()
}

#[tokio::test]
async fn each_named_transient_exception_is_retried() {
    for name in [
        "DCOverloadedException",
        "SuitabilityDirectoryException",
        "ServerInMMException",
        "ADServerSettingsChangedException",
        "StorageTransientException",
    ] {
        let body = error_body(&format!(
            "Ex1|Microsoft.Exchange.Data.Directory.{name}|busy"
        ));
        let server = TestServer::start(with_tokens(move |_, n| {
            if n == 0 {
                Reply::json(500, body.clone())
            } else {
                Reply::json(200, envelope(&[], None))
            }
        }))
        .await;
        let client = common::connect(&server).client();
        client.invoke(&Call::new("Get-Mailbox")).await.unwrap();
        assert_eq!(server.invoke_requests().len(), 2, "{name}");
    }
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_retries() {
    let server = TestServer::start(with_tokens(|_, n| {
        if n == 0 {
            Reply::json(401, "")
        } else {
            Reply::json(200, envelope(&[], None))
        }
    }))
    .await;
    let client = common::connect(&server).client();
    client.invoke(&Call::new("Get-Mailbox")).await.unwrap();
    assert_eq!(server.token_count(), 2);
    let reqs = server.invoke_requests();
    assert_eq!(reqs.len(), 2);
    assert_ne!(
        reqs[0].header("authorization"),
        reqs[1].header("authorization")
    );
}

#[tokio::test]
async fn a_second_401_is_not_retried_again() {
    let server = TestServer::start(with_tokens(|_, _| {
        Reply::json(401, "").header(
            "x-ms-diagnostics",
            "2000001;reason=\"The token has expired.\";error_category=\"invalid_token\"",
        )
    }))
    .await;
    let client = common::connect(&server).client();
    let err = client.invoke(&Call::new("Get-Mailbox")).await.unwrap_err();
    assert_eq!(
        err,
        CmdletError::failed(
            "Unauthorized",
            "Exchange refused the access token even after a refresh (2000001;reason=\"The token has expired.\";error_category=\"invalid_token\")"
        )
    );
    assert_eq!(server.invoke_requests().len(), 2);
    assert_eq!(server.token_count(), 2);
}

#[tokio::test]
async fn errors_map_to_the_plugin_facing_kinds() {
    let not_found = r#"{"error":{"code":"NotFound","message":"Error executing cmdlet","details":[{"code":"Client","target":"","message":"Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object 'jdoe@contoso.onmicrosoft.com' couldn't be found on 'EMU01A001DC001.EMUPR01A001.PROD.OUTLOOK.COM'."}],"innererror":{"message":"Error executing cmdlet","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","internalexception":{"message":"Exception of type 'Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException' was thrown.","type":"Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException"}}}}"#;
    let ambiguous = error_body(
        "Ex9E65A2|Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException|The operation couldn't be performed because object: 'x' matches multiple entries.",
    );
    let bad_param = r#"{"error":{"code":"BadRequest","message":"Error executing cmdlet","innererror":{"message":"m","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","internalexception":{"message":"Cannot process argument transformation on parameter 'ResultSize'.","type":"Microsoft.Exchange.Management.ParameterTransformationException"}}}}"#;
    let member = error_body(
        "Ex1|Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException|The recipient 'a' is already a member of the group 'g'.",
    );
    let cases: Vec<(u16, String, CmdletError)> = vec![
        (404, not_found.to_owned(), CmdletError::not_found("The operation couldn't be performed because object 'jdoe@contoso.onmicrosoft.com' couldn't be found on 'EMU01A001DC001.EMUPR01A001.PROD.OUTLOOK.COM'.")),
        (400, ambiguous, CmdletError::Ambiguous { message: "The operation couldn't be performed because object: 'x' matches multiple entries.".into() }),
        (400, bad_param.to_owned(), CmdletError::invalid_parameter("Cannot process argument transformation on parameter 'ResultSize'.")),
        (403, String::new(), CmdletError::Forbidden { message: exorun_exchange::client::errors::GENERIC_SERVER_ERROR.into() }),
        (500, member, CmdletError::failed("MemberAlreadyExistsException", "The recipient 'a' is already a member of the group 'g'.")),
        (500, r#"{"error":{"code":"InternalServerError","message":"Invalid Operation"}}"#.to_owned(), CmdletError::failed("InternalServerError", "Invalid Operation")),
    ];
    for (status, body, expected) in cases {
        let server =
            TestServer::start(with_tokens(move |_, _| Reply::json(status, body.clone()))).await;
        let client = common::connect(&server).client();
        let err = client
            .invoke(&Call::new("Add-DistributionGroupMember"))
            .await
            .unwrap_err();
        assert_eq!(err, expected, "HTTP {status}");
        assert_eq!(server.invoke_requests().len(), 1);
    }
}

#[tokio::test]
async fn admin_api_errors_in_a_200_fail_the_call() {
    let server = TestServer::start(with_tokens(|_, _| {
        Reply::json(200, r#"{"value":[],"@adminapi.errors":["Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|gone"]}"#)
    }))
    .await;
    let client = common::connect(&server).client();
    let err = client.invoke(&Call::new("Get-Mailbox")).await.unwrap_err();
    assert_eq!(err, CmdletError::not_found("gone"));
}

/// A raw server for Exchange that reads each request completely and then,
/// for the first `drops` connections, closes without answering.
async fn dropping_server(drops: usize) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                loop {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let body_len;
                    loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let len: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .map(|v| v.trim().parse().unwrap())
                                .unwrap_or(0);
                            body_len = end + 4 + len;
                            break;
                        }
                    }
                    while buf.len() < body_len {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    if n < drops {
                        return; // request fully read; connection dropped
                    }
                    let body = envelope(&objects(0..1), None);
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if sock.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn a_write_whose_answer_never_came_is_outcome_unknown_and_not_retried() {
    let tokens = TestServer::start(|_, _| common::token_reply(3599)).await;
    let (exchange, seen) = dropping_server(usize::MAX).await;
    let client = common::options(&tokens.url, &exchange)
        .connect()
        .unwrap()
        .client();
    let err = client
        .invoke(&Call::new("Set-Mailbox").param("Identity", "jdoe"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "outcome-unknown", "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_read_whose_answer_never_came_is_retried() {
    let tokens = TestServer::start(|_, _| common::token_reply(3599)).await;
    let (exchange, seen) = dropping_server(2).await;
    let client = common::options(&tokens.url, &exchange)
        .connect()
        .unwrap()
        .client();
    let out = client.invoke(&Call::new("Get-Mailbox")).await.unwrap();
    assert_eq!(out, objects(0..1));
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_write_that_could_not_connect_is_retried() {
    let tokens = TestServer::start(|_, _| common::token_reply(3599)).await;
    // Nothing listens here: every attempt fails before sending.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let client = common::options(&tokens.url, &closed)
        .connect()
        .unwrap()
        .client();
    let err = client.invoke(&Call::new("Set-Mailbox")).await.unwrap_err();
    let CmdletError::Failed { code, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(code, "ConnectionFailed");
    assert!(
        message.starts_with("Set-Mailbox failed after 6 attempts"),
        "{message}"
    );
}

#[tokio::test]
async fn a_zero_result_size_is_refused_before_any_request() {
    let server = TestServer::start(with_tokens(|_, _| Reply::json(200, envelope(&[], None)))).await;
    let client = common::connect(&server).client();
    let err = client
        .invoke(&Call::new("Get-Mailbox").param("ResultSize", Value::Int(0)))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CmdletError::invalid_parameter("ResultSize must be greater than 0")
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = TestServer::start(with_tokens(|_, _| {
        Reply::json(302, "").header(
            "location",
            "https://nam12.outlook.office365.com/adminapi/beta/x/InvokeCommand?secret=1",
        )
    }))
    .await;
    let client = common::connect(&server).client();
    let err = client.invoke(&Call::new("Get-Mailbox")).await.unwrap_err();
    let CmdletError::Failed { code, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(code, "Redirected");
    assert!(
        message.contains("to https://nam12.outlook.office365.com;"),
        "{message}"
    );
    assert!(!message.contains("secret=1"));
    assert_eq!(server.invoke_requests().len(), 1);
}
