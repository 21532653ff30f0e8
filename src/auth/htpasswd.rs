//! The Apache htpasswd file format, bcrypt entries only: reading it as distribution does (lines
//! trimmed, blanks and `#` comments skipped, split at the first `:`), and writing entries as Apache's
//! `htpasswd -B` does (`user:$2y$<cost>$...`). Shared by the server and the `wharf htpasswd` tool.

use std::collections::HashMap;

use super::AuthError;

/// Cost of hashes Wharf writes unless told otherwise (distribution's `bcrypt.DefaultCost`).
pub const DEFAULT_COST: u32 = 10;
/// Lowest cost accepted when writing (Apache's range).
pub const MIN_COST: u32 = 4;
/// Highest cost accepted when writing (Apache's range).
pub const MAX_COST: u32 = 17;

/// The usable entries of a file: user name → bcrypt hash, and what was wrong with the rest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Users with a bcrypt hash. A user listed twice keeps the last entry, as in distribution.
    pub users: HashMap<String, String>,
    /// One line per skipped entry, naming the line and user but never the hash.
    pub warnings: Vec<String>,
}

/// Whether `hash` is a bcrypt hash in a variant Go's and Apache's bcrypt both read.
pub fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) && hash.len() == 60
}

/// Reads the entries of an htpasswd file's text.
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = index + 1;
        let Some((user, hash)) = line.split_once(':') else {
            parsed.warnings.push(format!(
                "line {number} has no ':' between user and hash; skipped"
            ));
            continue;
        };
        if !is_bcrypt(hash) {
            parsed.warnings.push(format!(
                "line {number}: user {user:?} has a hash in {} format, which Wharf (like registry:2) does not \
                 accept; skipped: set a bcrypt password with `wharf htpasswd -B FILE {user}`",
                hash_kind(hash)
            ));
            continue;
        }
        if parsed
            .users
            .insert(user.to_string(), hash.to_string())
            .is_some()
        {
            parsed.warnings.push(format!(
                "line {number}: user {user:?} is listed again; this later entry is used"
            ));
        }
    }
    parsed
}

/// A name for a hash format, for warnings.
fn hash_kind(hash: &str) -> &'static str {
    if hash.starts_with("$apr1$") {
        "MD5 ($apr1$)"
    } else if hash.starts_with("{SHA}") {
        "SHA-1 ({SHA})"
    } else if hash.starts_with("$5$") || hash.starts_with("$6$") {
        "SHA-crypt"
    } else if hash.starts_with("$2") {
        "malformed or unsupported bcrypt"
    } else {
        "non-bcrypt (crypt or plain text)"
    }
}

/// Checks a user name can be written to an htpasswd file.
pub fn check_user(user: &str) -> Result<(), AuthError> {
    if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
        return Err(AuthError::BadUser(user.to_string()));
    }
    Ok(())
}

/// A `user:$2y$...` entry for `password`, hashed with bcrypt at `cost`.
pub fn entry(user: &str, password: &str, cost: u32) -> Result<String, AuthError> {
    check_user(user)?;
    if !(MIN_COST..=MAX_COST).contains(&cost) {
        return Err(AuthError::BadCost(cost));
    }
    let parts = bcrypt::non_truncating_hash_with_result(password, cost).map_err(|e| match e {
        bcrypt::BcryptError::Truncation(_) => AuthError::PasswordTooLong,
        other => AuthError::Hash(other.to_string()),
    })?;
    Ok(format!(
        "{user}:{}",
        parts.format_for_version(bcrypt::Version::TwoY)
    ))
}

/// Whether `password` matches the bcrypt `hash` (false for a malformed hash).
pub fn verify(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Comments, blanks, whitespace, non-bcrypt hashes, lines without ':' and duplicates are handled
    /// as distribution does, with a warning naming the user for each skipped entry.
    #[test]
    fn parse_table() {
        let a = "$2y$05$".to_string() + &"a".repeat(53);
        let b = "$2b$10$".to_string() + &"b".repeat(53);
        let text = format!(
            "# comment\n\n  alice:{a}  \nbob:$apr1$xyz$abc\nnocolon\ncarol:{{SHA}}abc=\ndave:{b}\nalice:{b}\n"
        );
        let p = parse(&text);
        assert_eq!(p.users.len(), 2);
        assert_eq!(p.users["alice"], b);
        assert_eq!(p.users["dave"], b);
        assert_eq!(p.warnings.len(), 4, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("\"bob\"") && p.warnings[0].contains("MD5"));
        assert!(p.warnings[1].contains("line 5") && p.warnings[1].contains("no ':'"));
        assert!(p.warnings[2].contains("\"carol\"") && p.warnings[2].contains("SHA-1"));
        assert!(p.warnings[3].contains("\"alice\""));
        assert!(
            p.warnings.iter().all(|w| !w.contains("xyz")),
            "hashes are never echoed"
        );
    }

    /// Entries are `user:$2y$<cost>$...`, verify against their password only, and bad input is refused.
    #[test]
    fn entry_round_trip() {
        let line = entry("u", "secret", MIN_COST).unwrap();
        let (user, hash) = line.split_once(':').unwrap();
        assert_eq!(user, "u");
        assert!(hash.starts_with("$2y$04$") && is_bcrypt(hash), "{hash}");
        assert!(verify("secret", hash));
        assert!(!verify("Secret", hash));
        assert!(!verify("secret", "$apr1$nope"));
        assert!(matches!(entry("a:b", "p", 4), Err(AuthError::BadUser(_))));
        assert!(matches!(entry("a", "p", 3), Err(AuthError::BadCost(3))));
        assert!(matches!(
            entry("a", &"x".repeat(73), 4),
            Err(AuthError::PasswordTooLong)
        ));
    }
}
