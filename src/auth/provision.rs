//! Creating a missing htpasswd file at start-up, as distribution does: parent directories 0700, the
//! file 0600, holding user `docker` with a random password (32 random bytes, base64url) that is
//! logged once at WARN. For PaaS forms the first user can come from the environment instead:
//! `WHARF_USERNAME` + `WHARF_PASSWORD`, or `WHARF_HTPASSWD` holding bcrypt `user:hash` lines.
//! An existing file is never touched.

use std::io::Write;
use std::path::Path;

use base64::Engine;

use super::{htpasswd, AuthError};

/// The user a generated file holds.
pub const DEFAULT_USER: &str = "docker";
/// Variable naming the first user.
pub const USERNAME_VAR: &str = "WHARF_USERNAME";
/// Variable holding the first user's password.
pub const PASSWORD_VAR: &str = "WHARF_PASSWORD";
/// Variable holding ready-made htpasswd lines.
pub const HTPASSWD_VAR: &str = "WHARF_HTPASSWD";

/// Who a new htpasswd file is created with.
#[derive(Clone, PartialEq, Eq)]
pub enum Initial {
    /// User `docker` with a random password, logged once.
    Generated,
    /// A user and password given in the environment.
    Password {
        /// The user name.
        user: String,
        /// The password (never logged).
        password: String,
    },
    /// htpasswd lines given in the environment, written as they are.
    Lines(String),
}

impl std::fmt::Debug for Initial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Initial::Generated => write!(f, "Generated"),
            Initial::Password { user, .. } => write!(f, "Password {{ user: {user:?}, .. }}"),
            Initial::Lines(_) => write!(f, "Lines(..)"),
        }
    }
}

impl Initial {
    /// From this process's `WHARF_*` variables.
    pub fn from_env() -> Result<Initial, AuthError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// From the variables `lookup` returns (unset or empty ones as `None`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Initial, AuthError> {
        match (
            lookup(USERNAME_VAR),
            lookup(PASSWORD_VAR),
            lookup(HTPASSWD_VAR),
        ) {
            (None, None, None) => Ok(Initial::Generated),
            (Some(user), Some(password), None) => {
                htpasswd::check_user(&user)?;
                Ok(Initial::Password { user, password })
            }
            (None, None, Some(lines)) => {
                let parsed = htpasswd::parse(&lines);
                if let Some(problem) = parsed.warnings.first() {
                    return Err(AuthError::InitialCredentials(format!(
                        "{HTPASSWD_VAR} {problem}"
                    )));
                }
                if parsed.users.is_empty() {
                    return Err(AuthError::InitialCredentials(format!(
                        "{HTPASSWD_VAR} holds no user:hash line; set it to the output of `wharf htpasswd -Bbn USER PASSWORD`"
                    )));
                }
                Ok(Initial::Lines(lines))
            }
            (_, _, Some(_)) => Err(AuthError::InitialCredentials(format!(
                "set either {HTPASSWD_VAR} or {USERNAME_VAR} and {PASSWORD_VAR}, not both"
            ))),
            (Some(_), None, None) => Err(AuthError::InitialCredentials(format!(
                "{USERNAME_VAR} is set but {PASSWORD_VAR} is not; set both"
            ))),
            (None, Some(_), None) => Err(AuthError::InitialCredentials(format!(
                "{PASSWORD_VAR} is set but {USERNAME_VAR} is not; set both"
            ))),
        }
    }
}

/// Creates `path` with `initial` unless it exists. Returns whether it was created.
pub fn ensure(path: &Path, initial: &Initial) -> Result<bool, AuthError> {
    if path.exists() {
        if *initial != Initial::Generated {
            tracing::info!(path = %path.display(), "the htpasswd file exists; {USERNAME_VAR}/{PASSWORD_VAR}/{HTPASSWD_VAR} are only used to create it and are ignored");
        }
        return Ok(false);
    }
    let content = match initial {
        Initial::Generated => {
            let password = random_password()?;
            let line = htpasswd::entry(DEFAULT_USER, &password, htpasswd::DEFAULT_COST)?;
            write_new(path, &line)?;
            tracing::warn!(
                path = %path.display(),
                user = DEFAULT_USER,
                password = %password,
                "htpasswd is missing, provisioning with default user"
            );
            return Ok(true);
        }
        Initial::Password { user, password } => {
            htpasswd::entry(user, password, htpasswd::DEFAULT_COST)?
        }
        Initial::Lines(lines) => lines.trim().to_string(),
    };
    write_new(path, &content)?;
    tracing::info!(path = %path.display(), "htpasswd is missing; created it with the user(s) from the WHARF_* variables");
    Ok(true)
}

/// 32 random bytes, base64url without padding (43 characters), as distribution generates.
fn random_password() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Writes a new file (0600). Its directory must exist: a missing one is a mistyped path or a volume
/// not mounted, and a file created elsewhere would lock every real user out.
fn write_new(path: &Path, content: &str) -> Result<(), AuthError> {
    let create = |e| AuthError::Create(path.to_path_buf(), e);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(AuthError::MissingDirectory(parent.to_path_buf()));
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(create)?;
    file.write_all(content.as_bytes()).map_err(create)?;
    file.write_all(b"\n").map_err(create)?;
    file.sync_all().map_err(create)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initial(vars: &[(&str, &str)]) -> Result<Initial, AuthError> {
        Initial::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    /// Each combination of WHARF_* variables gives the right initial user or a one-line error.
    #[test]
    fn initial_from_variables() {
        assert_eq!(initial(&[]).unwrap(), Initial::Generated);
        assert_eq!(
            initial(&[("WHARF_USERNAME", "u"), ("WHARF_PASSWORD", "p")]).unwrap(),
            Initial::Password {
                user: "u".into(),
                password: "p".into()
            }
        );
        let line = htpasswd::entry("x", "y", 4).unwrap();
        assert_eq!(
            initial(&[("WHARF_HTPASSWD", &line)]).unwrap(),
            Initial::Lines(line.clone())
        );
        for bad in [
            vec![("WHARF_USERNAME", "u")],
            vec![("WHARF_PASSWORD", "p")],
            vec![("WHARF_HTPASSWD", "x:$apr1$a$b")],
            vec![("WHARF_HTPASSWD", "# nothing")],
            vec![("WHARF_HTPASSWD", line.as_str()), ("WHARF_USERNAME", "u")],
        ] {
            let e = initial(&bad).unwrap_err().to_string();
            assert!(e.contains("WHARF_"), "{bad:?}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    /// A missing file is created 0600 with a verifiable entry when its directory exists, and refused
    /// when it does not; an existing file is left alone.
    #[cfg(unix)]
    #[test]
    fn creates_missing_file_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/htpasswd");
        let init = Initial::Password {
            user: "me".into(),
            password: "pw".into(),
        };
        let missing = ensure(&path, &init).unwrap_err();
        assert!(
            matches!(missing, AuthError::MissingDirectory(_)),
            "{missing}"
        );
        assert!(!dir.path().join("a").exists());
        std::fs::create_dir(dir.path().join("a")).unwrap();
        assert!(ensure(&path, &init).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        let parsed = htpasswd::parse(&std::fs::read_to_string(&path).unwrap());
        assert!(htpasswd::verify("pw", &parsed.users["me"]));

        std::fs::write(&path, "kept\n").unwrap();
        assert!(!ensure(&path, &Initial::Generated).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept\n");
    }

    /// Generated passwords are 43 base64url characters, different every time.
    #[test]
    fn generated_passwords() {
        let (a, b) = (random_password().unwrap(), random_password().unwrap());
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
    }
}
