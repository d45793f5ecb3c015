use gatehouse_core::LoginDecision;
use gatehouse_server::Gatehouse;

use crate::Failure;
use crate::password_input;

pub async fn explain(gatehouse: &Gatehouse, realm: &str, login: &str) -> Result<(), Failure> {
    let runtime = gatehouse.realm(realm)?;
    let (account, plan) = runtime.resolver.explain(login).await?;
    let key = runtime.policy.normalize_login(login);
    match &account {
        Some(a) => println!(
            "realm {realm}, login `{key}`: account {} ({})",
            a.account.username, a.account.id
        ),
        None => println!("realm {realm}, login `{key}`: no account"),
    }
    if let Some(by) = &plan.superseded_by {
        println!("the account is disabled: superseded by {by}");
    }
    for (i, step) in plan.steps.iter().enumerate() {
        println!(
            "  {}. {} ({}): {}",
            i + 1,
            step.provider.id,
            step.provider.kind,
            step.decision
        );
    }
    if plan.candidates().next().is_none() {
        println!("no provider would be tried: the login is refused");
    }
    Ok(())
}

pub async fn login(gatehouse: &Gatehouse, realm: &str, login: &str) -> Result<(), Failure> {
    let runtime = gatehouse.realm(realm)?;
    let password = password_input::read(false).map_err(Failure::Other)?;
    let result = runtime.resolver.resolve(login, &password).await?;
    for attempt in &result.attempts {
        let detail = match &attempt.outcome {
            gatehouse_core::AttemptOutcome::Unavailable(why)
            | gatehouse_core::AttemptOutcome::Disabled(why) => format!(" ({why})"),
            _ => String::new(),
        };
        println!(
            "  tried {}: {}{detail} in {:.1} ms",
            attempt.provider,
            attempt.outcome.label(),
            attempt.duration.as_secs_f64() * 1000.0
        );
    }
    match (&result.decision, &result.account) {
        (LoginDecision::Success, Some(account)) => {
            println!("success: {} ({})", account.username, account.id);
            Ok(())
        }
        (LoginDecision::Refused(refusal), _) => {
            println!("refused: {}", refusal.public_message());
            println!("  reason (for administrators): {}", refusal);
            Err(Failure::Refused)
        }
        (LoginDecision::Success, None) => Err(Failure::Refused),
    }
}
