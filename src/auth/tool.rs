//! `wharf htpasswd`: Apache's `htpasswd` for bcrypt entries, so `wharf htpasswd -Bbn USER PASS`
//! replaces the `registry:2 htpasswd` trick. It prints or edits entries in Apache's exact format;
//! files are changed atomically (temporary file, fsync, rename), keeping their permissions, new files
//! being 0600.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use super::htpasswd::{self, DEFAULT_COST};
use super::AuthError;

/// Manage htpasswd files (bcrypt only), as Apache's `htpasswd` does.
#[derive(Debug, Clone, Args)]
#[command(
    override_usage = "wharf htpasswd [-cBDiv] [-C cost] FILE USER\n       \
                      wharf htpasswd -b[cBDv] [-C cost] FILE USER PASSWORD\n       \
                      wharf htpasswd -n[Bi] [-C cost] USER\n       \
                      wharf htpasswd -nb[B] [-C cost] USER PASSWORD"
)]
pub struct HtpasswdArgs {
    /// Use bcrypt: the default and only format (accepted for compatibility).
    #[arg(short = 'B')]
    pub bcrypt: bool,
    /// Take the password from the command line rather than prompting for it.
    #[arg(short = 'b')]
    pub batch: bool,
    /// Print the entry on standard output rather than updating a file.
    #[arg(short = 'n', conflicts_with_all = ["create", "delete", "verify"])]
    pub print: bool,
    /// Create a new file, replacing an existing one.
    #[arg(short = 'c', conflicts_with_all = ["delete", "verify"])]
    pub create: bool,
    /// Delete the user.
    #[arg(short = 'D', conflicts_with = "verify")]
    pub delete: bool,
    /// Verify the user's password instead of setting it.
    #[arg(short = 'v')]
    pub verify: bool,
    /// Read the password from standard input, without prompting.
    #[arg(short = 'i', conflicts_with = "batch")]
    pub stdin: bool,
    /// bcrypt cost, 4 to 17.
    #[arg(short = 'C', value_name = "COST", default_value_t = DEFAULT_COST)]
    pub cost: u32,
    /// MD5 hashes (`-m`), refused: registry clients only accept bcrypt.
    #[arg(short = 'm')]
    pub md5: bool,
    /// crypt hashes (`-d`), refused.
    #[arg(short = 'd')]
    pub crypt: bool,
    /// SHA-1 hashes (`-s`), refused.
    #[arg(short = 's')]
    pub sha: bool,
    /// Plain-text passwords (`-p`), refused.
    #[arg(short = 'p')]
    pub plain: bool,
    /// `[FILE] USER [PASSWORD]`: no FILE with `-n`; PASSWORD only with `-b`.
    #[arg(value_name = "ARGS", num_args = 1..=3, allow_hyphen_values = true, required = true)]
    pub args: Vec<String>,
}

/// Why the tool failed; each message names the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Wrong arguments.
    #[error("{0}")]
    Usage(String),
    /// A hashing or file-format problem.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The file cannot be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The file does not exist and `-c` was not given.
    #[error("cannot modify file {0}: it does not exist; use '-c' to create it")]
    NoFile(PathBuf),
    /// The user's entry cannot be used (not bcrypt).
    #[error("{0}")]
    Unusable(String),
    /// The user is not in the file.
    #[error("user {0} not found in {1}")]
    UserNotFound(String, PathBuf),
    /// The password could not be read.
    #[error("cannot read the password: {0}; give it with -b (on the command line) or -i (on standard input)")]
    Prompt(std::io::Error),
    /// The two typed passwords differ.
    #[error("password verification error: the two passwords differ; try again")]
    Mismatch,
    /// `-v` and the password is wrong.
    #[error("password verification failed")]
    VerifyFailed,
}

impl ToolError {
    /// The exit status, as Apache's htpasswd uses them.
    pub fn exit_code(&self) -> i32 {
        match self {
            ToolError::VerifyFailed | ToolError::Mismatch => 3,
            ToolError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// Runs the tool; messages for the user go to standard error, entries printed with `-n` to
/// standard output.
pub fn run(args: &HtpasswdArgs) -> Result<(), ToolError> {
    if args.md5 || args.crypt || args.sha || args.plain {
        return Err(ToolError::Usage(
            "only bcrypt (-B) is supported: registry clients cannot use MD5, crypt, SHA or plain entries; drop -m/-d/-s/-p".into(),
        ));
    }
    let mut rest = args.args.iter().map(String::as_str);
    let file = if args.print {
        None
    } else {
        Some(PathBuf::from(rest.next().unwrap_or_default()))
    };
    let user = rest
        .next()
        .ok_or_else(|| ToolError::Usage("missing USER; see wharf htpasswd --help".into()))?;
    let given = rest.next();
    if given.is_some() != args.batch || (args.delete && given.is_some()) {
        return Err(ToolError::Usage(if args.batch {
            "-b needs the password after USER".into()
        } else {
            "too many arguments: the password is taken from the command line only with -b".into()
        }));
    }
    htpasswd::check_user(user)?;
    let password = |confirm: bool| -> Result<String, ToolError> {
        match given {
            Some(p) => Ok(p.to_string()),
            None if args.stdin => read_stdin(),
            None => prompt(confirm),
        }
    };
    let Some(file) = file else {
        let line = htpasswd::entry(user, &password(true)?, args.cost)?;
        print!("{line}\n\n");
        return Ok(());
    };
    if args.verify {
        let text = read_existing(&file)?;
        let parsed = htpasswd::parse(&text);
        let Some(hash) = parsed.users.get(user) else {
            let named = format!("user {user:?} ");
            return Err(
                match parsed.warnings.into_iter().find(|w| w.contains(&named)) {
                    Some(problem) => ToolError::Unusable(problem),
                    None => ToolError::UserNotFound(user.to_string(), file),
                },
            );
        };
        if !htpasswd::verify(&password(false)?, hash) {
            return Err(ToolError::VerifyFailed);
        }
        eprintln!("Password for user {user} correct.");
        return Ok(());
    }
    if args.delete {
        let text = read_existing(&file)?;
        let (lines, found) = replace_user(&text, user, None);
        if !found {
            return Err(ToolError::UserNotFound(user.to_string(), file));
        }
        write_atomically(&file, &lines)?;
        eprintln!("Deleting password for user {user}");
        return Ok(());
    }
    let text = if args.create {
        String::new()
    } else {
        read_existing(&file)?
    };
    let entry = htpasswd::entry(user, &password(true)?, args.cost)?;
    let (lines, found) = replace_user(&text, user, Some(&entry));
    write_atomically(&file, &lines)?;
    let verb = if found { "Updating" } else { "Adding" };
    eprintln!("{verb} password for user {user}");
    Ok(())
}

/// The file's lines with `user`'s entry replaced by `entry` (appended if absent) or removed
/// (`entry` = `None`); other lines, comments included, are kept. Returns whether the user was there.
fn replace_user(text: &str, user: &str, entry: Option<&str>) -> (String, bool) {
    let mut out = String::with_capacity(text.len() + 80);
    let mut found = false;
    for line in text.lines() {
        let trimmed = line.trim();
        let is_user =
            !trimmed.starts_with('#') && trimmed.split_once(':').is_some_and(|(u, _)| u == user);
        if !is_user {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if let (Some(entry), false) = (entry, found) {
            out.push_str(entry);
            out.push('\n');
        }
        found = true;
    }
    if let (Some(entry), false) = (entry, found) {
        out.push_str(entry);
        out.push('\n');
    }
    (out, found)
}

fn read_existing(file: &Path) -> Result<String, ToolError> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ToolError::NoFile(file.to_path_buf()))
        }
        Err(e) => Err(ToolError::Read(file.to_path_buf(), e)),
    }
}

/// Asks for the password on the terminal (twice when `confirm`).
fn prompt(confirm: bool) -> Result<String, ToolError> {
    let first = rpassword::prompt_password("New password: ").map_err(ToolError::Prompt)?;
    if confirm {
        let second =
            rpassword::prompt_password("Re-type new password: ").map_err(ToolError::Prompt)?;
        if first != second {
            return Err(ToolError::Mismatch);
        }
    }
    Ok(first)
}

/// The first line of standard input, without its line ending.
fn read_stdin() -> Result<String, ToolError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(ToolError::Prompt)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Replaces `file` with `content`: a temporary file in the same directory (mode of the old file,
/// else 0600) is written, synced and renamed over it, then the directory is synced.
fn write_atomically(file: &Path, content: &str) -> Result<(), ToolError> {
    let fail = |e| ToolError::Auth(AuthError::Create(file.to_path_buf(), e));
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.wharf-{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mode = std::fs::metadata(file)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o600);
        options.mode(mode);
    }
    let result = (|| {
        let mut out = options.open(&temp)?;
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(file) {
            // The umask may have narrowed the mode given at creation.
            out.set_permissions(meta.permissions())?;
        }
        out.write_all(content.as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&temp, file)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            d.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replacing keeps comments and other users in place, drops duplicates, appends new users, and
    /// deleting removes every entry of the user.
    #[test]
    fn replace_user_table() {
        let text = "# team\nalice:OLD\nbob:B\nalice:DUP\n";
        assert_eq!(
            replace_user(text, "alice", Some("alice:NEW")),
            ("# team\nalice:NEW\nbob:B\n".to_string(), true)
        );
        assert_eq!(
            replace_user("bob:B", "carol", Some("carol:C")),
            ("bob:B\ncarol:C\n".to_string(), false)
        );
        assert_eq!(
            replace_user(text, "alice", None),
            ("# team\nbob:B\n".to_string(), true)
        );
        assert!(!replace_user(text, "dave", None).1);
    }
}
