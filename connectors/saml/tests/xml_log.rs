//! Under JSON logging, a failed SAML signature check leaves only JSON lines on stderr: what
//! libxmlsec reports on its own arrives as tracing events, not as raw `func=…` lines.
//!
//! The libraries write to fd 2 directly, which the test harness cannot capture, so the test runs
//! itself again as a child process and reads the child's stderr.

mod common;

use std::process::Command;

use common::*;
use gatehouse_core::{CallbackError, RedirectProvider};

const CHILD: &str = "GATEHOUSE_XML_LOG_TEST_CHILD";
const NAME: &str = "xmlsec_errors_reach_stderr_only_as_json_lines";

#[tokio::test]
async fn xmlsec_errors_reach_stderr_only_as_json_lines() {
    if std::env::var_os(CHILD).is_some() {
        return refuse_a_tampered_and_an_unknown_signature().await;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["target"] == "gatehouse_connector_saml::xmlsec"
                && e["func"].as_str().is_some_and(|f| f.starts_with("xmlSec"))),
        "xmlsec's report is not among the events:\n{stderr}"
    );
}

/// The child's part: JSON logs on stderr, then two signature failures.
async fn refuse_a_tampered_and_an_unknown_signature() {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(std::io::stderr)
        .init();
    let sp = sp("").await;
    let start = sp.provider.begin(ACS_URL).await.unwrap();
    let request_id = start.pending["request_id"].as_str().unwrap().to_owned();
    let tampered = Resp::valid(&request_id).xml().replace(
        "alice@corp.test</saml:NameID>",
        "admin@corp.test</saml:NameID>",
    );
    let mut unknown = Resp::valid(&request_id);
    unknown.key = "unknown-key.pem".into();
    for xml in [tampered, unknown.xml()] {
        match sp
            .provider
            .complete(&start.pending, ACS_URL, &form(&xml, &start.state))
            .await
        {
            Err(CallbackError::Invalid(msg)) => assert!(msg.starts_with("signature"), "{msg}"),
            other => panic!("expected a signature refusal, got {other:?}"),
        }
    }
}
