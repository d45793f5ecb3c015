//! `[realms.R.brute_force]` (issue #24): the brute-force defence's keys, checked with the rest
//! of the configuration. The password policy's keys belong to each database provider entry
//! (`password_policy`) and are checked with it.

use super::{Config, Problem};

/// One problem per key that cannot work, named in full (`realms.main.brute_force.max_failures`).
pub(super) fn check(config: &Config) -> Vec<Problem> {
    config
        .realms
        .iter()
        .flat_map(|(name, realm)| {
            realm
                .brute_force
                .problems()
                .into_iter()
                .map(move |(key, message)| {
                    Problem::new(format!("realms.{name}.brute_force.{key}"), message)
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = r#"
[realms.main]
chain = ["local"]
[[realms.main.providers]]
id = "local"
kind = "database"
"#;

    fn parse(extra: &str) -> Result<Config, crate::config::ConfigError> {
        Config::from_toml(&format!("{BASE}{extra}"), "test.toml", Vec::new())
    }

    #[test]
    fn defaults_are_on_with_growing_delays_and_no_permanent_lock() {
        let config = parse("").unwrap();
        let bf = &config.realms["main"].brute_force;
        assert!(bf.enabled);
        assert_eq!((bf.free_failures, bf.max_delay_s), (5, 900));
        assert!(!bf.permanent_lockout);
    }

    #[test]
    fn bad_values_and_unknown_keys_are_named() {
        let err =
            parse("[realms.main.brute_force]\nfree_failures = 10\nmax_failures = 3\n").unwrap_err();
        assert_eq!(err.problems[0].key, "realms.main.brute_force.max_failures");
        let err = parse("[realms.main.brute_force]\nmax_failure = 3\n").unwrap_err();
        assert!(err.to_string().contains("max_failure"), "{err}");
    }

    #[test]
    fn a_password_pattern_that_does_not_compile_is_named() {
        let err =
            parse("[realms.main.providers.password_policy]\npattern = \"(?=[a-z]\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("realms.main.providers[0]"), "{text}");
        assert!(text.contains("password_policy.pattern"), "{text}");
    }
}
