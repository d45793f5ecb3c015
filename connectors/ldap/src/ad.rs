//! Active Directory account state: userAccountControl and friends on the entry, and the error
//! sub-code AD writes into a refused bind's diagnostic text ("… AcceptSecurityContext error,
//! data 533, v4563").
//!
//! The entry is checked before any bind, so a disabled account is refused whatever password is
//! typed: otherwise a wrong password (AD answers 52e before it looks at the account's state) would
//! let the chain fall through to an older local password.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::entry::Entry;

pub const STATE_ATTRS: [&str; 3] = [
    "userAccountControl",
    "msDS-User-Account-Control-Computed",
    "accountExpires",
];

const ACCOUNTDISABLE: u32 = 0x0002;
const LOCKOUT: u32 = 0x0010;
const PASSWORD_EXPIRED: u32 = 0x0080_0000;

/// 100 ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;

pub fn now_filetime() -> i64 {
    let since_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() / 100)
        .unwrap_or(0);
    i64::try_from(since_unix)
        .unwrap_or(i64::MAX)
        .saturating_add(FILETIME_UNIX_EPOCH)
}

fn flags(entry: &Entry, attr: &str) -> u32 {
    // Stored as a signed 32-bit decimal; read the bits whatever the sign.
    entry
        .first(attr)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|v| v as u32)
        .unwrap_or(0)
}

/// Why AD would refuse this account whatever the password, if it would.
pub fn entry_refusal(entry: &Entry, now_filetime: i64) -> Option<&'static str> {
    let uac = flags(entry, "userAccountControl");
    let computed = flags(entry, "msDS-User-Account-Control-Computed");
    if uac & ACCOUNTDISABLE != 0 {
        return Some("account disabled (userAccountControl)");
    }
    if (uac | computed) & LOCKOUT != 0 {
        return Some("account locked out");
    }
    // 0 and 0x7FFFFFFFFFFFFFFF both mean "never expires".
    if let Some(expires) = entry
        .first("accountExpires")
        .and_then(|v| v.trim().parse::<i64>().ok())
        && expires > 0
        && expires != i64::MAX
        && expires <= now_filetime
    {
        return Some("account expired");
    }
    if (uac | computed) & PASSWORD_EXPIRED != 0 {
        return Some("password expired");
    }
    None
}

/// The account-state sub-codes of a refused AD bind. 52e (wrong password) and 525 (no such user)
/// are plain rejections and return `None`.
pub fn bind_refusal(diagnostic: &str) -> Option<&'static str> {
    let code = diagnostic
        .split([',', ':'])
        .map(str::trim)
        .find_map(|part| part.strip_prefix("data "))?
        .trim()
        .to_ascii_lowercase();
    match code.as_str() {
        "530" => Some("logon not permitted at this time"),
        "531" => Some("logon not permitted from this workstation"),
        "532" => Some("password expired"),
        "533" => Some("account disabled"),
        "701" => Some("account expired"),
        "773" => Some("password must be reset"),
        "775" => Some("account locked out"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(attrs: &[(&str, &[&str])]) -> Entry {
        Entry::new("CN=u,DC=example,DC=org", attrs)
    }

    #[test]
    fn user_account_control_flags() {
        let now = now_filetime();
        assert_eq!(
            entry_refusal(&user(&[("userAccountControl", &["512"])]), now),
            None
        );
        assert_eq!(
            entry_refusal(&user(&[("userAccountControl", &["514"])]), now),
            Some("account disabled (userAccountControl)")
        );
        assert_eq!(
            entry_refusal(
                &user(&[
                    ("userAccountControl", &["512"]),
                    ("msDS-User-Account-Control-Computed", &["16"])
                ]),
                now
            ),
            Some("account locked out")
        );
        assert_eq!(
            entry_refusal(
                &user(&[("msDS-User-Account-Control-Computed", &["8388608"])]),
                now
            ),
            Some("password expired")
        );
        // Negative (signed) values keep their bits.
        assert_eq!(
            entry_refusal(&user(&[("userAccountControl", &["-2147483646"])]), now),
            Some("account disabled (userAccountControl)")
        );
        assert_eq!(entry_refusal(&user(&[]), now), None);
    }

    #[test]
    fn account_expiry() {
        let now = now_filetime();
        let at = |v: i64| user(&[("accountExpires", &[v.to_string().as_str()])]);
        assert_eq!(entry_refusal(&at(0), now), None);
        assert_eq!(entry_refusal(&at(i64::MAX), now), None);
        assert_eq!(entry_refusal(&at(now + 10_000_000_000), now), None);
        assert_eq!(entry_refusal(&at(now - 1), now), Some("account expired"));
    }

    #[test]
    fn bind_sub_codes() {
        let text = |code: &str| {
            format!(
                "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data {code}, v4563\0"
            )
        };
        assert_eq!(bind_refusal(&text("52e")), None);
        assert_eq!(bind_refusal(&text("525")), None);
        assert_eq!(bind_refusal(&text("533")), Some("account disabled"));
        assert_eq!(bind_refusal(&text("701")), Some("account expired"));
        assert_eq!(bind_refusal(&text("775")), Some("account locked out"));
        assert_eq!(bind_refusal(&text("532")), Some("password expired"));
        assert_eq!(bind_refusal(&text("773")), Some("password must be reset"));
        assert_eq!(bind_refusal("Invalid credentials"), None);
        assert_eq!(bind_refusal(""), None);
    }
}
