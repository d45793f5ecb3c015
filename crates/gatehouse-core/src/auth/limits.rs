//! The bounds every flow runs within (issue #20, point 6).

use std::time::Duration;

use serde::Deserialize;

/// Per realm: `[realms.R.flows]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowLimits {
    /// Seconds from the start of a flow to its end, whatever happens in between.
    #[serde(default = "default_lifetime")]
    pub lifetime: u64,
    /// Failed inputs (a wrong password, a refused callback, a choice not offered) after which
    /// the flow is dead and a new one must be started.
    #[serde(default = "default_max_failures")]
    pub max_failed_inputs: u32,
    /// The largest value of one typed input (a login, a password, a code), in bytes.
    #[serde(default = "default_max_input_bytes")]
    pub max_input_bytes: usize,
    /// The largest callback of a redirect provider, all parameters together, in bytes (a signed
    /// SAML response with its certificate is tens of kilobytes).
    #[serde(default = "default_max_callback_bytes")]
    pub max_callback_bytes: usize,
}

/// More fields than any challenge asks for: a request with more is refused before any work.
pub const MAX_INPUT_COUNT: usize = 32;

fn default_lifetime() -> u64 {
    600
}
fn default_max_failures() -> u32 {
    5
}
fn default_max_input_bytes() -> usize {
    1024
}
fn default_max_callback_bytes() -> usize {
    256 * 1024
}

impl Default for FlowLimits {
    fn default() -> Self {
        Self {
            lifetime: default_lifetime(),
            max_failed_inputs: default_max_failures(),
            max_input_bytes: default_max_input_bytes(),
            max_callback_bytes: default_max_callback_bytes(),
        }
    }
}

impl FlowLimits {
    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(self.lifetime)
    }

    /// Problems as (key, message), for the configuration check.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if !(30..=86_400).contains(&self.lifetime) {
            problems.push((
                "lifetime",
                format!(
                    "{} seconds is out of range: a flow must live between 30 and 86400 seconds",
                    self.lifetime
                ),
            ));
        }
        if !(1..=100).contains(&self.max_failed_inputs) {
            problems.push(("max_failed_inputs", "must be between 1 and 100".to_owned()));
        }
        if !(64..=65_536).contains(&self.max_input_bytes) {
            problems.push((
                "max_input_bytes",
                "must be between 64 and 65536 bytes".to_owned(),
            ));
        }
        if !(4096..=4 * 1024 * 1024).contains(&self.max_callback_bytes) {
            problems.push((
                "max_callback_bytes",
                "must be between 4096 bytes and 4 MiB".to_owned(),
            ));
        }
        problems
    }
}
