//! Search filters: every value that reaches a filter is escaped (RFC 4515), attribute names are
//! checked at start-up, and the administrator's filters are checked for balanced parentheses.

use std::fmt::Write;

/// RFC 4515 §3: `*`, `(`, `)`, `\` and NUL become `\XX`. Non-ASCII stays UTF-8, which the RFC
/// allows. (Written here rather than borrowed so that the rule is visible and tested beside its
/// callers.)
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '*' | '(' | ')' | '\\' | '\0' => {
                let _ = write!(out, "\\{:02x}", c as u32);
            }
            _ => out.push(c),
        }
    }
    out
}

/// An attribute description as RFC 4512 §2.5 allows it in a filter: a name (a letter, then
/// letters, digits, `-`) or a numeric OID, optionally with `;options`.
pub fn is_attribute_name(s: &str) -> bool {
    let mut parts = s.split(';');
    let Some(base) = parts.next() else {
        return false;
    };
    let keystring = |p: &str| {
        p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let oid = |p: &str| {
        !p.is_empty()
            && p.split('.')
                .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    (keystring(base) || oid(base)) && parts.all(keystring)
}

/// A filter the administrator wrote: one parenthesised expression with balanced parentheses
/// (escaped ones do not count). The server parses it properly; this catches the common mistakes
/// at start-up, before they turn every login into an error.
pub fn check_filter(f: &str) -> Result<(), &'static str> {
    let f = f.trim();
    if !(f.starts_with('(') && f.ends_with(')')) {
        return Err("it must start with `(` and end with `)`");
    }
    let mut depth = 0i32;
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        match c {
            // `\XX`: the two hex digits are skipped.
            '\\' if !(chars.next().is_some_and(|c| c.is_ascii_hexdigit())
                && chars.next().is_some_and(|c| c.is_ascii_hexdigit())) =>
            {
                return Err("a backslash must be followed by two hex digits");
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced parentheses");
                }
                if depth == 0 && !chars.as_str().is_empty() {
                    return Err("several filters side by side; combine them with (&…) or (|…)");
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses");
    }
    Ok(())
}

/// `(&BASE(|(a1=v)(a2=v)…))`, or with one attribute `(&BASE(a1=v))`; `value` is escaped here.
pub fn any_equals(base: &str, attrs: &[String], value: &str) -> String {
    let value = escape(value);
    let mut terms = String::new();
    for attr in attrs {
        let _ = write!(terms, "({attr}={value})");
    }
    if attrs.len() > 1 {
        format!("(&{base}(|{terms}))")
    } else {
        format!("(&{base}{terms})")
    }
}

/// `(&BASE(|(attr=v1)(attr=v2)…))` over several values (a group search for a set of members),
/// each escaped here; `rule` adds an extensible-match rule (`attr:RULE:=v`).
pub fn attr_in(base: &str, attr: &str, rule: Option<&str>, values: &[&str]) -> String {
    let mut terms = String::new();
    for v in values {
        match rule {
            Some(rule) => {
                let _ = write!(terms, "({attr}:{rule}:={})", escape(v));
            }
            None => {
                let _ = write!(terms, "({attr}={})", escape(v));
            }
        }
    }
    if values.len() > 1 {
        format!("(&{base}(|{terms}))")
    } else {
        format!("(&{base}{terms})")
    }
}

/// The value an Active Directory login is searched by, and the attributes to compare it with:
/// `DOMAIN\user` is the sAMAccountName `user` (of that domain, when the provider names one);
/// anything else is compared with every configured username attribute (UPN, sAMAccountName).
pub fn ad_login<'a>(
    login: &'a str,
    netbios_domain: Option<&str>,
) -> Result<Option<(&'a str, &'static str)>, ()> {
    let Some((domain, user)) = login.split_once('\\') else {
        return Ok(None);
    };
    if user.is_empty() || user.contains('\\') {
        return Err(());
    }
    if let Some(expected) = netbios_domain
        && !domain.eq_ignore_ascii_case(expected)
    {
        return Err(());
    }
    Ok(Some((user, "sAMAccountName")))
}

/// objectGUID as AD writes it: the first three fields are little-endian on the wire.
pub fn format_guid(bytes: &[u8]) -> Option<String> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    let mut s = String::with_capacity(36);
    for (i, idx) in [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15]
        .into_iter()
        .enumerate()
    {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{:02x}", b[idx]);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_rfc4515_metacharacter() {
        assert_eq!(escape("alice"), "alice");
        assert_eq!(escape("a*"), "a\\2a");
        assert_eq!(escape("*"), "\\2a");
        assert_eq!(escape("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(escape("back\\slash\0"), "back\\5cslash\\00");
        assert_eq!(escape("Jürgen"), "Jürgen");
    }

    #[test]
    fn builds_filters_with_escaped_values() {
        let attrs = vec!["uid".to_string(), "mail".to_string()];
        assert_eq!(
            any_equals("(objectClass=person)", &attrs, "*)(uid=*"),
            "(&(objectClass=person)(|(uid=\\2a\\29\\28uid=\\2a)(mail=\\2a\\29\\28uid=\\2a)))"
        );
        assert_eq!(
            any_equals("(objectClass=person)", &attrs[..1], "bob"),
            "(&(objectClass=person)(uid=bob))"
        );
        assert_eq!(
            attr_in(
                "(objectClass=group)",
                "member",
                Some("1.2.840.113556.1.4.1941"),
                &["CN=a\\,b,DC=x"]
            ),
            "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=CN=a\\5c,b,DC=x))"
        );
        assert_eq!(
            attr_in("(o=g)", "memberUid", None, &["a", "b*"]),
            "(&(o=g)(|(memberUid=a)(memberUid=b\\2a)))"
        );
        for f in [
            any_equals("(o=p)", &attrs, "*)(|(a=*"),
            attr_in("(o=g)", "member", None, &["(", ")"]),
        ] {
            assert_eq!(check_filter(&f), Ok(()), "{f}");
        }
    }

    #[test]
    fn attribute_names() {
        for ok in [
            "uid",
            "mail",
            "sAMAccountName",
            "entryUUID",
            "cn;lang-en",
            "2.5.4.3",
        ] {
            assert!(is_attribute_name(ok), "{ok}");
        }
        for bad in ["", "uid=*", "u id", "(uid)", "1uid", "2..5", "uid;", "*"] {
            assert!(!is_attribute_name(bad), "{bad}");
        }
    }

    #[test]
    fn administrator_filters() {
        assert_eq!(check_filter("(objectClass=person)"), Ok(()));
        assert_eq!(check_filter("(&(a=b)(c=d\\29))"), Ok(()));
        assert!(check_filter("objectClass=person").is_err());
        assert!(check_filter("(a=b))").is_err());
        assert!(check_filter("((a=b)").is_err());
        assert!(check_filter("(a=b)(c=d)").is_err());
        assert!(check_filter("(a=\\zz)").is_err());
    }

    #[test]
    fn active_directory_logins() {
        assert_eq!(ad_login("alice@example.org", None), Ok(None));
        assert_eq!(ad_login("alice", Some("EXAMPLE")), Ok(None));
        assert_eq!(
            ad_login("example\\alice", Some("EXAMPLE")),
            Ok(Some(("alice", "sAMAccountName")))
        );
        assert_eq!(
            ad_login("other\\alice", None),
            Ok(Some(("alice", "sAMAccountName")))
        );
        assert_eq!(ad_login("other\\alice", Some("EXAMPLE")), Err(()));
        assert_eq!(ad_login("example\\", None), Err(()));
        assert_eq!(ad_login("a\\b\\c", None), Err(()));
    }

    #[test]
    fn guids_read_like_ad_prints_them() {
        let bytes = [
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        assert_eq!(
            format_guid(&bytes).as_deref(),
            Some("00112233-4455-6677-8899-aabbccddeeff")
        );
        assert_eq!(format_guid(&bytes[..15]), None);
    }
}
