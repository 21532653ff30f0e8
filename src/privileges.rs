//! Giving up root. Wharf's image starts as root with `WHARF_USER=1000:1000`: before anything else
//! runs, the process hands what it must write (the storage root, the htpasswd file and its directory)
//! to that user when they are not its own already, as with a volume registry:2 wrote as root, then
//! becomes that user for good, as the official database images do with their entrypoints. Started as
//! any other user, or with `WHARF_USER` unset (a binary run by hand), nothing changes.
//!
//! The hand-over walks the storage tree once: it runs only when the storage root is not the service
//! user's, and changes the root's owner last, so a hand-over cut short is finished at the next start.
//! Symbolic links are changed themselves, never followed. Where the filesystem refuses to change
//! owners (NFS with root squashing, a read-only mount), the process stays root, as registry:2 runs,
//! and says so: a registry that worked with registry:2 keeps working.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};

/// The variable naming the service user, `UID` or `UID:GID`.
pub const USER_VAR: &str = "WHARF_USER";

/// The numeric user and group the process runs as once root is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceUser {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl ServiceUser {
    /// Parses `UID` or `UID:GID` (numbers; the group defaults to the user id).
    pub fn parse(value: &str) -> Result<ServiceUser, String> {
        let number = |s: &str| s.trim().parse::<u32>().ok();
        let parsed = match value.split_once(':') {
            Some((uid, gid)) => number(uid).zip(number(gid)),
            None => number(value).map(|uid| (uid, uid)),
        };
        parsed.map(|(uid, gid)| ServiceUser { uid, gid }).ok_or_else(|| {
            format!("{USER_VAR}={value:?} is not UID or UID:GID in numbers, e.g. {USER_VAR}=1000:1000")
        })
    }

    fn owns(&self, meta: &fs::Metadata) -> bool {
        meta.uid() == self.uid && meta.gid() == self.gid
    }

    fn chown(&self, path: &Path) -> io::Result<()> {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid))
    }
}

/// What must belong to the service user before root is given up.
#[derive(Debug, Default)]
pub struct Writable {
    /// Trees the service user writes anywhere in (the filesystem storage root).
    pub trees: Vec<PathBuf>,
    /// Files it rewrites or creates in place (the htpasswd file): the file and its directory.
    pub files: Vec<PathBuf>,
}

/// What happened: one line per path handed over, for the log.
pub type Report = Vec<String>;

/// What [`become_service_user`] did.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing: not root, or `WHARF_USER` unset, empty or naming root.
    Unchanged,
    /// Handed over what the report lists, then became the user.
    Became(ServiceUser, Report),
    /// The filesystem refused to change an owner, so the process stays root; the reason says where.
    StayedRoot(String),
}

/// Why a hand-over stopped.
struct HandOverError {
    message: String,
    /// The filesystem does not let root change owners there.
    refused: bool,
}

/// Becomes the service user named by `WHARF_USER` when running as root, after handing `writable` to
/// it. Does nothing when not root, when the variable is unset or empty, or when it names root.
pub fn become_service_user(env: Option<String>, writable: &Writable) -> Result<Outcome, String> {
    let Some(value) = env.filter(|v| !v.trim().is_empty()) else {
        return Ok(Outcome::Unchanged);
    };
    let user = ServiceUser::parse(&value)?;
    if !Uid::effective().is_root() || user.uid == 0 {
        return Ok(Outcome::Unchanged);
    }
    let mut report = Report::new();
    let handed = writable
        .trees
        .iter()
        .try_for_each(|tree| hand_over_tree(tree, user, &mut report))
        .and_then(|()| {
            writable
                .files
                .iter()
                .try_for_each(|file| hand_over_file(file, user, &mut report))
        });
    match handed {
        Ok(()) => {
            drop_root(user)?;
            Ok(Outcome::Became(user, report))
        }
        Err(e) if e.refused => Ok(Outcome::StayedRoot(format!(
            "{}; running as root, as registry:2 does (give the files to uid {} to run as that user, \
             or set {USER_VAR}=0 to keep root and silence this)",
            e.message, user.uid
        ))),
        Err(e) => Err(e.message),
    }
}

fn failed(path: &Path, user: ServiceUser, e: io::Error) -> HandOverError {
    HandOverError {
        refused: refuses_owners(&e),
        message: format!(
            "cannot hand {} to uid {} ({USER_VAR}): {e}",
            path.display(),
            user.uid
        ),
    }
}

/// Whether `e`, from changing an owner as root, says the filesystem does not allow it there.
fn refuses_owners(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM) | Some(libc::EROFS) | Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)
    )
}

/// Hands `root` and everything under it to `user` when `root` is not its own (creating `root` when
/// missing).
fn hand_over_tree(
    root: &Path,
    user: ServiceUser,
    report: &mut Report,
) -> Result<(), HandOverError> {
    let meta = match fs::symlink_metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(root).map_err(|e| failed(root, user, e))?;
            fs::symlink_metadata(root).map_err(|e| failed(root, user, e))?
        }
        Err(e) => return Err(failed(root, user, e)),
    };
    if user.owns(&meta) {
        return Ok(());
    }
    let (owner, changed) = (meta.uid(), hand_over_below(root, user)?);
    user.chown(root).map_err(|e| failed(root, user, e))?;
    report.push(format!(
        "handed {} to uid {} (it was uid {owner}'s): {} entries changed",
        root.display(),
        user.uid,
        changed + 1
    ));
    Ok(())
}

/// Hands every entry below `root` not already the user's to it, depth first; returns how many.
fn hand_over_below(root: &Path, user: ServiceUser) -> Result<u64, HandOverError> {
    let mut changed = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| failed(&dir, user, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| failed(&dir, user, e))?;
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(|e| failed(&path, user, e))?;
            if meta.is_dir() {
                dirs.push(path.clone());
            }
            if !user.owns(&meta) {
                user.chown(&path).map_err(|e| failed(&path, user, e))?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// Hands `file` (when it exists) and its directory (unless it is `/`) to `user`.
fn hand_over_file(
    file: &Path,
    user: ServiceUser,
    report: &mut Report,
) -> Result<(), HandOverError> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.filter(|d| *d != Path::new("/"));
    for path in dir.into_iter().chain([file]) {
        match fs::symlink_metadata(path) {
            Ok(meta) if !user.owns(&meta) => {
                user.chown(path).map_err(|e| failed(path, user, e))?;
                report.push(format!(
                    "handed {} to uid {} (it was uid {}'s)",
                    path.display(),
                    user.uid,
                    meta.uid()
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(path, user, e)),
        }
    }
    Ok(())
}

/// Gives up root for good: supplementary groups, then group, then user.
fn drop_root(user: ServiceUser) -> Result<(), String> {
    let gid = Gid::from_raw(user.gid);
    let fail = |what: &str, e: nix::Error| {
        format!("cannot become uid {} ({USER_VAR}): {what}: {e}", user.uid)
    };
    setgroups(&[gid]).map_err(|e| fail("setgroups", e))?;
    setgid(gid).map_err(|e| fail("setgid", e))?;
    setuid(Uid::from_raw(user.uid)).map_err(|e| fail("setuid", e))?;
    if setuid(Uid::from_raw(0)).is_ok() {
        return Err(format!(
            "gave up root for uid {}, but could take it back",
            user.uid
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Errors that mean "not on this filesystem" keep root; others stop start-up.
    #[test]
    fn refusals_are_told_apart() {
        for refused in [libc::EPERM, libc::EROFS, libc::EOPNOTSUPP, libc::EINVAL] {
            assert!(refuses_owners(&io::Error::from_raw_os_error(refused)));
        }
        assert!(!refuses_owners(&io::Error::from_raw_os_error(libc::EIO)));
        assert!(!refuses_owners(&io::Error::from_raw_os_error(libc::ENOENT)));
    }

    /// `UID` and `UID:GID` parse; anything else is refused with the variable named.
    #[test]
    fn parses_the_service_user() {
        assert_eq!(
            ServiceUser::parse("1000:1001").unwrap(),
            ServiceUser {
                uid: 1000,
                gid: 1001
            }
        );
        assert_eq!(
            ServiceUser::parse("1000").unwrap(),
            ServiceUser {
                uid: 1000,
                gid: 1000
            }
        );
        for bad in ["wharf", "1000:", ":1000", "-1", "1000:x"] {
            let e = ServiceUser::parse(bad).unwrap_err();
            assert!(e.contains(USER_VAR), "{e}");
        }
    }
}
