use std::io::{BufRead, IsTerminal};

use gatehouse_core::Secret;
use zeroize::Zeroize;

/// A password from the terminal (asked without echo, twice when `confirm`), or the first line of
/// standard input when it is a pipe.
pub fn read(confirm: bool) -> Result<Secret, String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        if confirm {
            let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
            if again != first {
                return Err("the two passwords differ".into());
            }
        }
        Secret::new(first)
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        let trimmed = line.strip_suffix('\n').unwrap_or(&line);
        let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
        let secret = Secret::new(trimmed);
        line.zeroize();
        secret
    };
    if password.is_empty() {
        return Err("empty password: give it on standard input (e.g. `printf '%s\\n' \"$PW\" | gatehouse …`)".into());
    }
    Ok(password)
}
