use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::auth::mechanism::MechanismRef;
use crate::auth::policy::{Step, StepKind};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
}

fn ago(s: i64) -> DateTime<Utc> {
    now() - Duration::seconds(s)
}

fn policy(id: &str, acr: &str, max_age: Option<u64>, mechanisms: &[&str]) -> Policy {
    Policy {
        id: id.into(),
        acr: acr.into(),
        max_age,
        steps: mechanisms
            .iter()
            .enumerate()
            .map(|(i, m)| Step {
                id: format!("step-{}", i + 1),
                kind: StepKind::Mechanism(MechanismRef::new(m)),
            })
            .collect(),
    }
}

/// `default` (one factor, no max_age) and `mfa` (two, an hour).
fn realm() -> Vec<Policy> {
    vec![
        policy("default", "1", None, &["password"]),
        policy("mfa", "urn:mfa", Some(3600), &["password", "totp"]),
    ]
}

fn level(policy_id: &str, acr: &str, at: DateTime<Utc>) -> AchievedLevel {
    AchievedLevel {
        policy_id: policy_id.into(),
        acr: acr.into(),
        at,
    }
}

fn passed(mechanism: &str, at: DateTime<Utc>) -> PassedMechanism {
    PassedMechanism {
        mechanism: MechanismRef::new(mechanism),
        provider: None,
        amr: vec![
            if mechanism == "password" {
                "pwd"
            } else {
                "otp"
            }
            .into(),
        ],
        at,
    }
}

fn ask(acr: &[&str]) -> LevelRequest {
    LevelRequest {
        acr: acr.iter().map(|s| s.to_string()).collect(),
        ..LevelRequest::default()
    }
}

#[test]
fn a_password_session_answers_a_plain_request_at_its_level() {
    let levels = [level("default", "1", ago(600))];
    let passed = [passed("password", ago(600))];
    let session = SessionAuth {
        levels: &levels,
        passed: &passed,
    };
    assert_eq!(
        decide(&realm(), Some(session), &ask(&[]), now()),
        StepUp::Satisfied(levels[0].clone())
    );
}

#[test]
fn no_session_runs_the_login_policy_or_the_one_that_achieves_the_request() {
    let needed = |policy: &str| StepUp::Needed {
        policy_id: policy.into(),
        passed: vec![],
    };
    assert_eq!(decide(&realm(), None, &ask(&[]), now()), needed("default"));
    assert_eq!(
        decide(&realm(), None, &ask(&["urn:mfa"]), now()),
        needed("mfa")
    );
    // Preference order: the first value some policy achieves.
    assert_eq!(
        decide(
            &realm(),
            None,
            &ask(&["urn:unknown", "1", "urn:mfa"]),
            now()
        ),
        needed("default")
    );
    // Without a `default`, the first policy is the login's.
    let only = vec![policy("staff", "urn:staff", None, &["password"])];
    assert_eq!(decide(&only, None, &ask(&[]), now()), needed("staff"));
}

#[test]
fn a_higher_acr_runs_only_the_missing_steps() {
    let levels = [level("default", "1", ago(600))];
    let passed = [passed("password", ago(600))];
    let session = SessionAuth {
        levels: &levels,
        passed: &passed,
    };
    assert_eq!(
        decide(&realm(), Some(session), &ask(&["urn:mfa"]), now()),
        StepUp::Needed {
            policy_id: "mfa".into(),
            passed: passed.to_vec(),
        }
    );
}

#[test]
fn a_mechanism_older_than_the_policy_max_age_runs_again() {
    let levels = [level("default", "1", ago(7200))];
    let passed = [passed("password", ago(7200))];
    let session = SessionAuth {
        levels: &levels,
        passed: &passed,
    };
    assert_eq!(
        decide(&realm(), Some(session), &ask(&["urn:mfa"]), now()),
        StepUp::Needed {
            policy_id: "mfa".into(),
            passed: vec![],
        }
    );
}

#[test]
fn an_elevated_level_expires_with_its_policy_max_age() {
    let levels = [
        level("default", "1", ago(7300)),
        level("mfa", "urn:mfa", ago(7200)),
    ];
    let passed = [passed("password", ago(7300)), passed("totp", ago(7200))];
    let session = SessionAuth {
        levels: &levels,
        passed: &passed,
    };
    // The MFA level is two hours old, its policy says one: not held any more.
    assert_eq!(
        decide(&realm(), Some(session), &ask(&["urn:mfa"]), now()),
        StepUp::Needed {
            policy_id: "mfa".into(),
            passed: vec![],
        }
    );
    // A plain request is answered at the level still held: one factor, never the expired MFA.
    assert_eq!(
        decide(&realm(), Some(session), &ask(&[]), now()),
        StepUp::Satisfied(levels[0].clone())
    );
    // Within the hour it holds, and a plain request gets the most recent level.
    let fresh = [
        level("default", "1", ago(1300)),
        level("mfa", "urn:mfa", ago(1200)),
    ];
    let session = SessionAuth {
        levels: &fresh,
        passed: &passed,
    };
    assert_eq!(
        decide(&realm(), Some(session), &ask(&["urn:mfa"]), now()),
        StepUp::Satisfied(fresh[1].clone())
    );
    assert_eq!(
        decide(&realm(), Some(session), &ask(&[]), now()),
        StepUp::Satisfied(fresh[1].clone())
    );
}

#[test]
fn a_session_with_only_an_expired_level_logs_in_again() {
    let levels = [level("mfa", "urn:mfa", ago(7200))];
    let passed = [passed("password", ago(7200)), passed("totp", ago(7200))];
    let session = SessionAuth {
        levels: &levels,
        passed: &passed,
    };
    assert_eq!(
        decide(&realm(), Some(session), &ask(&[]), now()),
        StepUp::Needed {
            policy_id: "default".into(),
            // `default` has no max_age: the password still counts.
            passed: vec![passed[0].clone(), passed[1].clone()],
        }
    );
}

#[test]
fn max_age_and_prompt_login_force_authentication() {
    let levels = [level("default", "1", ago(600))];
    let passed = [passed("password", ago(600))];
    let session = SessionAuth {
        levels: &levels,
        passed: &passed,
    };
    let needed = StepUp::Needed {
        policy_id: "default".into(),
        passed: vec![],
    };
    for request in [
        LevelRequest {
            max_age: Some(0),
            ..ask(&[])
        },
        LevelRequest {
            max_age: Some(599),
            ..ask(&[])
        },
        LevelRequest {
            force: true,
            ..ask(&[])
        },
    ] {
        assert_eq!(
            decide(&realm(), Some(session), &request, now()),
            needed,
            "{request:?}"
        );
    }
    let recent_enough = LevelRequest {
        max_age: Some(600),
        ..ask(&[])
    };
    assert!(matches!(
        decide(&realm(), Some(session), &recent_enough, now()),
        StepUp::Satisfied(_)
    ));
}

#[test]
fn an_essential_acr_no_policy_achieves_is_unmet_a_voluntary_one_is_ignored() {
    let levels = [level("default", "1", ago(60))];
    let passed = [passed("password", ago(60))];
    let session = SessionAuth {
        levels: &levels,
        passed: &passed,
    };
    let essential = LevelRequest {
        essential: true,
        ..ask(&["urn:gold"])
    };
    assert_eq!(
        decide(&realm(), Some(session), &essential, now()),
        StepUp::Unmet
    );
    assert_eq!(decide(&realm(), None, &essential, now()), StepUp::Unmet);
    assert_eq!(
        decide(&realm(), Some(session), &ask(&["urn:gold"]), now()),
        StepUp::Satisfied(levels[0].clone())
    );
}

#[test]
fn a_level_whose_policy_changed_or_went_is_not_held() {
    let levels = [
        level("mfa", "urn:old", ago(60)),
        level("gone", "1", ago(30)),
    ];
    let session = SessionAuth {
        levels: &levels,
        passed: &[],
    };
    assert!(matches!(
        decide(&realm(), Some(session), &ask(&[]), now()),
        StepUp::Needed { .. }
    ));
}

#[test]
fn the_level_issued_after_a_login_meets_the_request_or_says_why_not() {
    let levels = [level("default", "1", now())];
    let essential = LevelRequest {
        essential: true,
        ..ask(&["urn:mfa"])
    };
    assert_eq!(
        level_to_issue(&realm(), &levels, &essential, now()),
        IssueLevel::Unmet
    );
    // Voluntary: the RP learns the level from the ID token's `acr`.
    assert_eq!(
        level_to_issue(&realm(), &levels, &ask(&["urn:mfa"]), now()),
        IssueLevel::At(levels[0].clone())
    );
    // max_age=0 sent the user to the login page; the fresh login then answers it.
    let forced = LevelRequest {
        max_age: Some(0),
        force: true,
        ..ask(&[])
    };
    assert_eq!(
        level_to_issue(&realm(), &levels, &forced, now()),
        IssueLevel::At(levels[0].clone())
    );
    let both = [levels[0].clone(), level("mfa", "urn:mfa", now())];
    assert_eq!(
        level_to_issue(&realm(), &both, &essential, now()),
        IssueLevel::At(both[1].clone())
    );
    assert_eq!(
        level_to_issue(&realm(), &[level("gone", "x", now())], &ask(&[]), now()),
        IssueLevel::AsRecorded
    );
}
