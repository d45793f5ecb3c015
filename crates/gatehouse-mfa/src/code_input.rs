//! What a user types as a code, checked before anything is looked up: each mistake gets its own
//! clear message, and nothing is stored or advanced for it.

/// A code as typed: spaces and hyphens (as apps and emails group digits) are dropped.
pub fn normalise(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

/// A numeric code of exactly `len` digits, or the message that says what is wrong.
pub fn digits(typed: &str, len: usize) -> Result<String, String> {
    let code = normalise(typed);
    if code.is_empty() {
        return Err(format!("Enter the {len}-digit code."));
    }
    if !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "The code is made of digits only: enter the {len} digits."
        ));
    }
    if code.chars().count() != len {
        return Err(format!(
            "The code has {len} digits; you entered {}.",
            code.chars().count()
        ));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mistake_has_its_message() {
        assert_eq!(digits(" 123 456 ", 6).unwrap(), "123456");
        assert_eq!(digits("123-456", 6).unwrap(), "123456");
        assert_eq!(digits("", 6).unwrap_err(), "Enter the 6-digit code.");
        assert_eq!(digits("   ", 6).unwrap_err(), "Enter the 6-digit code.");
        assert_eq!(
            digits("1234567", 6).unwrap_err(),
            "The code has 6 digits; you entered 7."
        );
        assert!(digits("12a456", 6).unwrap_err().contains("digits only"));
        assert!(
            digits("１２３４５６", 6)
                .unwrap_err()
                .contains("digits only")
        );
    }
}
