//! `gatehouse explain --realm R --policy P LOGIN`: the steps policy P would take LOGIN through,
//! after the provider plan that `explain` prints.

use gatehouse_server::Gatehouse;

use crate::Failure;

pub async fn explain(
    gatehouse: &Gatehouse,
    realm: &str,
    policy: &str,
    login: &str,
) -> Result<(), Failure> {
    let runtime = gatehouse.realm(realm)?;
    let flows = gatehouse
        .flows
        .realm(realm)
        .ok_or_else(|| Failure::Other(format!("realm `{realm}` runs no policies")))?;
    let (account, plan) = runtime.resolver.explain(login).await?;
    let first = plan.candidates().next().map(|s| s.provider.id.as_str());
    let account = account.map(|a| a.account);
    let explained = match flows.engine.explain(policy, account.as_ref(), first).await {
        Ok(explained) => explained,
        Err(gatehouse_core::CoreError::Flow(_)) => {
            let mut known: Vec<&str> = flows.engine.policies().map(|p| p.id.as_str()).collect();
            known.sort();
            return Err(Failure::Other(format!(
                "no policy `{policy}` in realm `{realm}`; it has: {}",
                known.join(", ")
            )));
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "policy {} (acr {}) for login `{login}`:",
        explained.policy, explained.acr
    );
    for (i, step) in explained.steps.iter().enumerate() {
        println!("  {}. [{}] {}", i + 1, step.step, step.text);
    }
    match &explained.refused {
        None => println!("the policy succeeds when every step asked for passes"),
        Some(why) => println!("the login is refused: {why}"),
    }
    Ok(())
}
