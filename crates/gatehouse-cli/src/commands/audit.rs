//! `gatehouse audit`: the realm's audit trail, newest first, filtered; as a table or as JSON
//! lines. The same rows are plain SQL away (README, "Audit trail").

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use gatehouse_core::AccountId;
use gatehouse_server::Gatehouse;
use gatehouse_store::{AuditEvent, AuditQuery};

use crate::Failure;
use crate::cli::AuditArgs;

pub async fn run(gatehouse: &Gatehouse, args: AuditArgs) -> Result<(), Failure> {
    let runtime = gatehouse.realm(&args.realm.realm)?;
    let account_id = args
        .account
        .as_deref()
        .map(|id| {
            uuid::Uuid::parse_str(id.trim())
                .map(AccountId)
                .map_err(|e| Failure::Config(format!("--account `{id}` is not an account id: {e}")))
        })
        .transpose()?;
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, Utc::now()).map_err(Failure::Config))
        .transpose()?;
    let query = AuditQuery {
        realm: args.realm.realm.clone(),
        // Stored as the realm normalises it: `Alice ` finds `alice`.
        login: args
            .login
            .as_deref()
            .map(|l| runtime.policy.normalize_login(l)),
        account_id,
        since,
        result: args.result.clone(),
        limit: args.limit,
    };
    let events = gatehouse.store.audit_events(&query).await?;
    if args.json {
        for event in &events {
            println!("{}", json(event));
        }
        return Ok(());
    }
    if events.is_empty() {
        println!("no audit events");
        return Ok(());
    }
    for event in &events {
        println!("{}", line(event));
    }
    Ok(())
}

/// `--since`: an RFC 3339 time, a date (midnight UTC), or a span back from now (`90s`, `15m`,
/// `2h`, `7d`).
fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    let unit_at = text.len().saturating_sub(1);
    let (number, unit) = (text.get(..unit_at), text.get(unit_at..));
    let span = number
        .and_then(|n| n.parse::<i64>().ok())
        .and_then(|n| match unit? {
            "s" => TimeDelta::try_seconds(n),
            "m" => TimeDelta::try_minutes(n),
            "h" => TimeDelta::try_hours(n),
            "d" => TimeDelta::try_days(n),
            _ => None,
        });
    match span {
        Some(span) if span >= TimeDelta::zero() => Ok(now - span),
        _ => Err(format!(
            "--since `{text}`: expected an RFC 3339 time (2026-12-07T10:00:00Z), a date \
             (2026-12-07) or a span back from now (90s, 15m, 2h, 7d)"
        )),
    }
}

fn json(event: &AuditEvent) -> serde_json::Value {
    serde_json::json!({
        "id": event.id,
        "realm": event.realm,
        "at": event.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "kind": event.kind,
        "login": event.login,
        "account_id": event.account_id,
        "success": event.success,
        "result": event.result,
        "client": event.client,
        "ip": event.ip,
        "attempts": event.attempts,
    })
}

/// One event on one line: time, kind, login, account, result, origin, providers tried.
fn line(event: &AuditEvent) -> String {
    let attempts: Vec<String> = event
        .attempts
        .iter()
        .map(|a| {
            format!(
                "{}:{}:{}ms",
                a.provider,
                a.outcome.label(),
                a.duration.as_millis()
            )
        })
        .collect();
    let dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    format!(
        "{}  {:<14}  {:<20}  {:<36}  {:<22}  client={} ip={}  {}",
        event.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        event.kind,
        event.login,
        event
            .account_id
            .map_or_else(|| "-".to_owned(), |id| id.to_string()),
        event.result,
        dash(event.client.as_deref()),
        dash(event.ip.as_deref()),
        if attempts.is_empty() {
            "-".to_owned()
        } else {
            attempts.join(",")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_a_date_or_a_span_back() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| parse_since(s, now).unwrap().to_rfc3339();
        assert_eq!(at("2026-12-01T08:30:00+01:00"), "2026-12-01T07:30:00+00:00");
        assert_eq!(at("2026-12-01"), "2026-12-01T00:00:00+00:00");
        assert_eq!(at("90s"), "2026-12-07T11:58:30+00:00");
        assert_eq!(at("15m"), "2026-12-07T11:45:00+00:00");
        assert_eq!(at("2h"), "2026-12-07T10:00:00+00:00");
        assert_eq!(at("7d"), "2026-11-30T12:00:00+00:00");
        for bad in ["", "h", "-2h", "2w", "yesterday", "2026-13-01"] {
            let e = parse_since(bad, now).unwrap_err();
            assert!(e.contains("--since"), "{bad}: {e}");
        }
    }
}
