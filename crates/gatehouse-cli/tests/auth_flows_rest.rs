//! The REST flow of authentication policies (`/realms/R/apiauthsvc`, issue #20 point 4) against
//! the real `gatehouse serve`, on SQLite and PostgreSQL: start, password, success (a session
//! cookie, or a first-party app's code redeemed at /token); a stale state id refused with nothing
//! advanced; a branch on a group; a choice; the attempt limit; the kick-off switch; a flow moving
//! between two instances; and one audit event per flow (point 7).

mod common;

#[path = "auth_flows/support.rs"]
mod support;

use common::Env;
use gatehouse_store::{AuditEvent, store_test};
use serde_json::{Value, json};
use support::*;

store_test!(
    a_password_flow_rolls_its_state_id_and_ends_in_a_session,
    |store| async move {
        let env = Env::new(store, REALMS);
        users(&env).await;
        let token = "flows-metrics-token-0123456789";
        let server = serve(&env, &[("GATEHOUSE_SERVER__METRICS__BEARER_TOKEN", token)]).await;
        let base = server.base.clone();

        let first = post(&start_url(&base, "password"), None).await;
        first.status_is("challenge");
        assert_eq!(first.body["mechanism"], "password");
        let names: Vec<&str> = first.body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["login", "password"]);
        let s1 = first.state();

        // A wrong password: the same challenge again with the reason, under a new state id.
        let second = send(&base, &s1, password("alice", "wrong")).await;
        second.status_is("challenge");
        assert_eq!(second.body["error"], "Invalid username or password.");
        let s2 = second.state();
        assert_ne!(s1, s2);

        // The spent id is refused, and advanced nothing: s2 still continues.
        let replay = send(&base, &s1, password("alice", PASSWORD)).await;
        assert_eq!(replay.status, 400, "{}", replay.body);
        assert_eq!(replay.body["error"], "invalid_state");

        let done = send(&base, &s2, password("alice", PASSWORD)).await;
        done.status_is("success");
        assert_eq!(done.body["acr"], "1");
        assert_eq!(done.body["amr"], json!(["pwd"]));
        assert_eq!(done.body["username"], "alice");
        assert!(done.body.get("state_id").is_none(), "{}", done.body);
        let session = done
            .cookies
            .iter()
            .find_map(|c| c.strip_prefix("gatehouse_session="))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_owned();
        assert!(done.cookies.iter().any(|c| c.contains("HttpOnly")));
        let again = send(&base, &s2, password("alice", PASSWORD)).await;
        assert_eq!(again.body["error"], "invalid_state");

        // The cookie is a browser session: /authorize answers at once with a code.
        let authorize = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!(
                "{base}/realms/main/authorize?response_type=code&client_id=spa&redirect_uri={REDIRECT_URI}&scope=openid&prompt=none&code_challenge={CHALLENGE}&code_challenge_method=S256"
            ))
            .header("cookie", format!("gatehouse_session={session}"))
            .send()
            .await
            .unwrap();
        let location = authorize.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with(REDIRECT_URI) && location.contains("code="),
            "{location}"
        );

        // One audit event for the flow: the policy, then each judged step.
        let events = flow_events(&env).await;
        assert_eq!(events.len(), 1, "{events:?}");
        let event = &events[0];
        assert!(event.success);
        assert_eq!(event.result, "success");
        assert_eq!(event.login, "alice");
        assert_eq!(
            labels(event),
            [
                "policy:password(acr=1;amr=pwd):verified",
                "step-1/password:rejected",
                "step-1/password:verified"
            ]
        );
        // The password step's own login events carry the client's address, so its brute-force
        // counters are kept per IP as on every other way to log in.
        let password_events: Vec<_> = env
            .store
            .store()
            .recent_audit_events("main", 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind != AuditEvent::AUTHENTICATION_FLOW && e.login == "alice")
            .collect();
        assert_eq!(password_events.len(), 2, "{password_events:?}");
        assert!(
            password_events
                .iter()
                .all(|e| e.ip.as_deref() == Some("127.0.0.1")),
            "{password_events:?}"
        );
        // /metrics counts the flow and its steps.
        let metrics = reqwest::Client::new()
            .get(format!("{base}/metrics"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = |family: &str, labels: &[&str]| {
            metrics
                .lines()
                .find(|l| l.starts_with(family) && labels.iter().all(|x| l.contains(x)))
                .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
        };
        assert_eq!(
            line(
                "gatehouse_flows_total{",
                &["policy=\"password\"", "outcome=\"success\""]
            )
            .as_deref(),
            Some("1"),
            "{metrics}"
        );
        assert_eq!(
            line(
                "gatehouse_flow_steps_total{",
                &[
                    "flow=\"password\"",
                    "step=\"step-1\"",
                    "outcome=\"rejected\""
                ]
            )
            .as_deref(),
            Some("1"),
            "{metrics}"
        );
        // `gatehouse audit` shows it like a login.
        let shown = env.ok(&["audit", "--realm", "main"], "");
        assert!(
            shown.contains("authentication_flow") && shown.contains("policy:password"),
            "{shown}"
        );
    }
);

store_test!(
    a_first_party_app_gets_a_code_that_the_token_endpoint_redeems,
    |store| async move {
        let env = Env::new(store, REALMS);
        users(&env).await;
        let server = serve(&env, &[]).await;
        let base = server.base.clone();
        let code_request = |client: &str| {
            json!({
                "client_id": client,
                "redirect_uri": REDIRECT_URI,
                "code_challenge": CHALLENGE,
                "code_challenge_method": "S256",
                "scope": "openid profile",
            })
        };

        // Only a first-party client, with its exact redirect URI and PKCE.
        let refused = post(
            &start_url(&base, "password"),
            Some(code_request("third-party")),
        )
        .await;
        assert_eq!(
            (refused.status, refused.body["error"].as_str()),
            (400, Some("unauthorized_client"))
        );
        let mut wrong = code_request("spa");
        wrong["redirect_uri"] = json!("http://127.0.0.1:9/callback/other");
        let refused = post(&start_url(&base, "password"), Some(wrong)).await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        let mut plain = code_request("spa");
        plain["code_challenge_method"] = json!("plain");
        let refused = post(&start_url(&base, "password"), Some(plain)).await;
        assert_eq!(refused.status, 400, "{}", refused.body);

        let first = post(&start_url(&base, "password"), Some(code_request("spa"))).await;
        let done = send(&base, &first.state(), password("alice", PASSWORD)).await;
        done.status_is("success");
        assert!(
            !done
                .cookies
                .iter()
                .any(|c| c.starts_with("gatehouse_session=")),
            "a code, not a browser session: {:?}",
            done.cookies
        );
        let code = done.body["authorization_code"].as_str().expect("a code");
        assert_eq!(done.body["redirect_uri"], REDIRECT_URI);

        let token = |verifier: &'static str, code: String| {
            let base = base.clone();
            async move {
                let response = reqwest::Client::new()
                    .post(format!("{base}/realms/main/token"))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("client_id", "spa"),
                        ("code", code.as_str()),
                        ("redirect_uri", REDIRECT_URI),
                        ("code_verifier", verifier),
                    ])
                    .send()
                    .await
                    .unwrap();
                (
                    response.status().as_u16(),
                    response.json::<Value>().await.unwrap(),
                )
            }
        };
        let (status, tokens) = token(VERIFIER, code.to_owned()).await;
        assert_eq!(status, 200, "{tokens}");
        let id_token = tokens["id_token"].as_str().expect("an ID token");
        let claims = id_token_claims(id_token);
        assert_eq!(claims["amr"], json!(["pwd"]), "{claims}");
        // Once.
        let (status, _) = token(VERIFIER, code.to_owned()).await;
        assert_eq!(status, 400);
        assert_eq!(flow_events(&env).await[0].client.as_deref(), Some("spa"));
    }
);

fn id_token_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

store_test!(
    a_policy_branches_on_a_group_offers_a_choice_and_dies_after_five_wrong_inputs,
    |store| async move {
        let env = Env::new(store, REALMS);
        users(&env).await;
        // `explain --policy` tells both paths without a password.
        let root = env.ok(
            &[
                "explain",
                "--realm",
                "main",
                "--policy",
                "admins-step-up",
                "root",
            ],
            "",
        );
        for line in [
            "policy admins-step-up (acr 2) for login `root`:",
            "1. [login] asks for password (verified by `local`)",
            "2. [admins-only] if group = \"admins\": yes — continues",
            "3. [code] asks for test_code",
            "the policy succeeds when every step asked for passes",
        ] {
            assert!(root.contains(line), "{line}:\n{root}");
        }
        let alice = env.ok(
            &[
                "explain",
                "--realm",
                "main",
                "--policy",
                "admins-step-up",
                "alice",
            ],
            "",
        );
        assert!(
            alice.contains("if group = \"admins\": no — ends the policy: success")
                && !alice.contains("test_code"),
            "{alice}"
        );
        let unknown = env.run(
            &["explain", "--realm", "main", "--policy", "nope", "alice"],
            "",
        );
        assert_eq!(unknown.code(), 1, "{}", unknown.all());
        assert!(
            unknown.all().contains("admins-step-up, choose, password"),
            "{}",
            unknown.all()
        );

        let server = serve(&env, &[]).await;
        let base = server.base.clone();

        // Not an admin: done after the password.
        let a = post(&start_url(&base, "admins-step-up"), None).await;
        let done = send(&base, &a.state(), password("alice", PASSWORD)).await;
        done.status_is("success");
        assert_eq!(done.body["amr"], json!(["pwd"]));

        // An admin: a second step; a wrong code keeps the step, the right one ends it.
        let a = post(&start_url(&base, "admins-step-up"), None).await;
        let b = send(&base, &a.state(), password("root", ROOT_PASSWORD)).await;
        b.status_is("challenge");
        assert_eq!(b.body["mechanism"], "test_code");
        let c = send(&base, &b.state(), json!({ "code": "000000" })).await;
        c.status_is("challenge");
        assert_eq!(c.body["error"], "That code is not right.");
        let done = send(&base, &c.state(), json!({ "code": "424242" })).await;
        done.status_is("success");
        assert_eq!(done.body["acr"], "2");
        assert_eq!(done.body["amr"], json!(["pwd", "otp"]));

        // A choice: both offered; a choice not offered is refused; then the picked one runs.
        let a = post(&start_url(&base, "choose"), None).await;
        let b = send(&base, &a.state(), password("alice", PASSWORD)).await;
        b.status_is("choose");
        let ids: Vec<&str> = b.body["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["test_code", "test_key"]);
        let c = choose(&base, &b.state(), "password").await;
        c.status_is("choose");
        assert!(c.body["error"].is_string(), "{}", c.body);
        let d = choose(&base, &c.state(), "test_key").await;
        d.status_is("challenge");
        assert_eq!(d.body["mechanism"], "test_key");
        let done = send(&base, &d.state(), json!({ "code": "key-1" })).await;
        done.status_is("success");
        assert_eq!(done.body["amr"], json!(["pwd", "hwk"]));

        // Five wrong passwords: the fifth ends the flow, and its last id is dead.
        let mut reply = post(&start_url(&base, "password"), None).await;
        let mut last = String::new();
        for i in 1..=5 {
            last = reply.state();
            reply = send(&base, &last, password("alice", "wrong")).await;
            let expected = if i < 5 { "challenge" } else { "failure" };
            reply.status_is(expected);
        }
        assert!(reply.body.get("state_id").is_none(), "{}", reply.body);
        let after = send(&base, &last, password("alice", PASSWORD)).await;
        assert_eq!(after.body["error"], "invalid_state");

        let events = flow_events(&env).await;
        let results: Vec<&str> = events.iter().map(|e| e.result.as_str()).collect();
        // Newest first.
        assert_eq!(
            results,
            ["too_many_attempts", "success", "success", "success"],
            "{events:?}"
        );
        assert_eq!(
            labels(&events[2]),
            [
                "policy:admins-step-up(acr=2;amr=pwd+otp):verified",
                "login/password:verified",
                "code/test_code:rejected",
                "code/test_code:verified"
            ]
        );
        assert_eq!(
            labels(&events[1]),
            [
                "policy:choose(acr=2;amr=pwd+hwk):verified",
                "login/password:verified",
                "second/choice:rejected",
                "second/test_key:verified"
            ]
        );
        assert_eq!(events[0].attempts.len(), 6);
        assert!(!events[0].success);
    }
);

store_test!(
    the_query_kickoff_can_be_switched_off_per_realm,
    |store| async move {
        let env = Env::new(store, REALMS);
        let server = serve(&env, &[]).await;
        let base = server.base.clone();
        let by_query = post(
            &format!("{base}/realms/main/apiauthsvc?PolicyId=password"),
            None,
        )
        .await;
        by_query.status_is("challenge");
        // The seed's URN form names the same policy.
        let urn = post(
            &format!(
                "{base}/realms/main/apiauthsvc?PolicyId=urn:ibm:security:authentication:asf:password"
            ),
            None,
        )
        .await;
        urn.status_is("challenge");
        let unknown = post(&start_url(&base, "nope"), None).await;
        assert_eq!(
            (unknown.status, unknown.body["error"].as_str()),
            (404, Some("unknown_policy"))
        );

        let off = post(
            &format!("{base}/realms/strict/apiauthsvc?PolicyId=default"),
            None,
        )
        .await;
        assert_eq!(
            (off.status, off.body["error"].as_str()),
            (403, Some("kickoff_disabled")),
            "{}",
            off.body
        );
        let by_path = post(
            &format!("{base}/realms/strict/apiauthsvc/policy/default"),
            None,
        )
        .await;
        by_path.status_is("challenge");
        let web = reqwest::get(format!("{base}/realms/strict/authsvc?PolicyId=default"))
            .await
            .unwrap();
        assert_eq!(web.status().as_u16(), 403);
        let web = reqwest::get(format!("{base}/realms/strict/authsvc/policy/default"))
            .await
            .unwrap();
        assert_eq!(web.status().as_u16(), 200);
    }
);

store_test!(
    a_flow_started_on_one_instance_finishes_on_another,
    |store| async move {
        let env = Env::new(store, REALMS);
        users(&env).await;
        // Two processes on one store (and one key file), as behind a load balancer.
        let a = serve(&env, &[]).await;
        let b = serve(&env, &[]).await;
        let first = post(&start_url(&a.base, "admins-step-up"), None).await;
        let second = send(&b.base, &first.state(), password("root", ROOT_PASSWORD)).await;
        second.status_is("challenge");
        // The id B spent is dead on A too.
        let replay = send(&a.base, &first.state(), password("root", ROOT_PASSWORD)).await;
        assert_eq!(replay.body["error"], "invalid_state");
        let done = send(&a.base, &second.state(), json!({ "code": "424242" })).await;
        done.status_is("success");
        assert_eq!(done.body["amr"], json!(["pwd", "otp"]));
        assert_eq!(flow_events(&env).await.len(), 1);
    }
);

store_test!(
    an_abandoned_flow_gets_its_audit_event_when_next_touched,
    |store| async move {
        let env = Env::new(store, REALMS);
        users(&env).await;
        let server = serve(&env, &[("GATEHOUSE_REALMS__MAIN__FLOWS__LIFETIME", "30")]).await;
        let base = server.base.clone();
        let first = post(&start_url(&base, "password"), None).await;
        let second = send(&base, &first.state(), password("alice", "wrong")).await;
        tokio::time::sleep(std::time::Duration::from_secs(31)).await;
        let late = send(&base, &second.state(), password("alice", PASSWORD)).await;
        assert_eq!(late.body["error"], "invalid_state", "{}", late.body);
        let events = flow_events(&env).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].result, "abandoned");
        // No account was established: nobody to name.
        assert_eq!(events[0].login, "");
        assert_eq!(
            labels(&events[0]),
            ["policy:password:rejected", "step-1/password:rejected"]
        );
        // Reported once.
        let again = send(&base, &second.state(), password("alice", PASSWORD)).await;
        assert_eq!(again.body["error"], "invalid_state");
        assert_eq!(flow_events(&env).await.len(), 1);
    }
);
