//! The htpasswd file as the server sees it: loaded at start-up and re-read when its modification
//! time, size or inode changes, checked at most once per [`CHECK_INTERVAL`], so edits take effect
//! without a restart. Each load is a new generation (the credential cache keys on it).
//!
//! A file that disappears or cannot be read later leaves no valid user (failing closed), with a
//! warning; skipped entries are warned about once per load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Mutex;

use super::{htpasswd, AuthError};

/// How often the file's metadata is checked at most.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// One load of the file.
#[derive(Debug, Default)]
pub struct Users {
    /// Increases with every load.
    pub generation: u64,
    /// User name → bcrypt hash.
    pub hashes: HashMap<String, String>,
}

/// What identifies a version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        }
    }
}

struct State {
    users: Arc<Users>,
    stamp: Option<Stamp>,
    checked: Instant,
}

/// The hot-reloaded htpasswd file.
pub struct UsersFile {
    path: PathBuf,
    state: Mutex<State>,
}

impl UsersFile {
    /// Loads `path`; it must exist and be readable.
    pub fn open(path: &Path) -> Result<UsersFile, AuthError> {
        let meta = std::fs::metadata(path).map_err(|e| AuthError::read(path, e))?;
        let text = std::fs::read_to_string(path).map_err(|e| AuthError::read(path, e))?;
        let users = load(path, &text, 1);
        if users.hashes.is_empty() {
            tracing::warn!(path = %path.display(), "the htpasswd file has no usable bcrypt entry; every login will fail");
        }
        Ok(UsersFile {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                users: Arc::new(users),
                stamp: Some(Stamp::of(&meta)),
                checked: Instant::now(),
            }),
        })
    }

    /// The current users, re-reading the file first if it changed.
    pub async fn current(&self) -> Arc<Users> {
        let mut state = self.state.lock().await;
        if state.checked.elapsed() < CHECK_INTERVAL {
            return state.users.clone();
        }
        state.checked = Instant::now();
        let stamp = tokio::fs::metadata(&self.path)
            .await
            .ok()
            .map(|m| Stamp::of(&m));
        if stamp == state.stamp {
            return state.users.clone();
        }
        let generation = state.users.generation + 1;
        let users = match (stamp, tokio::fs::read_to_string(&self.path).await) {
            (Some(_), Ok(text)) => {
                tracing::info!(path = %self.path.display(), "htpasswd file changed; reloaded");
                load(&self.path, &text, generation)
            }
            (_, Err(e)) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot read the htpasswd file; refusing every login until it is back");
                Users {
                    generation,
                    hashes: HashMap::new(),
                }
            }
            (None, Ok(_)) => Users {
                generation,
                hashes: HashMap::new(),
            },
        };
        state.stamp = stamp;
        state.users = Arc::new(users);
        state.users.clone()
    }
}

fn load(path: &Path, text: &str, generation: u64) -> Users {
    let parsed = htpasswd::parse(text);
    for warning in &parsed.warnings {
        tracing::warn!(path = %path.display(), "htpasswd {warning}");
    }
    Users {
        generation,
        hashes: parsed.users,
    }
}
