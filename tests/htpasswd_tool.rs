//! `wharf htpasswd` as a user runs it (the built binary), cross-checked with Apache's `htpasswd`
//! from apache2-utils: what one writes, the other verifies and edits.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn wharf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("htpasswd")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run wharf htpasswd")
}

fn apache(args: &[&str]) -> Output {
    Command::new("htpasswd")
        .args(args)
        .output()
        .expect("Apache htpasswd (apache2-utils; ./scripts/test installs it)")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Apache accepts `user` with `password` in `file`.
fn apache_verifies(file: &Path, user: &str, password: &str) -> bool {
    let f = file.to_str().unwrap();
    apache(&["-vb", f, user, password]).status.success()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `-Bbn` prints exactly Apache's format (`user:$2y$10$<53 chars>`, then an empty line), at cost
/// 10 by default and `-C` otherwise, and Apache verifies the entry.
#[test]
fn print_entry_matches_apache_format() {
    let out = wharf(&["-Bbn", "alice", "s3cret"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let apache_text = String::from_utf8(apache(&["-nbB", "alice", "s3cret"]).stdout).unwrap();
    assert!(text.ends_with("\n\n") && apache_text.ends_with("\n\n"));
    let line = text.trim_end();
    assert!(line.starts_with("alice:$2y$10$"), "{line}");
    assert_eq!(line.len(), "alice:".len() + 60);
    assert_eq!(
        line.len() - "$10$".len(),
        apache_text.trim_end().len() - "$05$".len()
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    assert!(apache_verifies(&file, "alice", "s3cret"));
    assert!(!apache_verifies(&file, "alice", "wrong"));

    let out = wharf(&["-Bbn", "-C", "12", "bob", "x"]);
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("bob:$2y$12$"));
}

/// `-c -b` creates a 0600 file, `-b` adds and changes users in place keeping other lines, `-D`
/// deletes, `-v` verifies; Apache agrees with every state, and Wharf verifies Apache's entries.
#[test]
fn create_add_change_delete_verify() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth/htpasswd");
    std::fs::create_dir(dir.path().join("auth")).unwrap();
    let f = file.to_str().unwrap();

    let out = wharf(&["-B", "-c", "-b", f, "alice", "one"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Adding password for user alice"));
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    assert!(apache_verifies(&file, "alice", "one"));

    assert!(apache(&["-bB", f, "carol", "apache-made"]).status.success());
    std::fs::write(
        &file,
        format!(
            "# team registry\n{}",
            std::fs::read_to_string(&file).unwrap()
        ),
    )
    .unwrap();
    let out = wharf(&["-Bb", f, "bob", "two"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = wharf(&["-Bb", f, "alice", "changed"]);
    assert!(stderr(&out).contains("Updating password for user alice"));
    assert!(apache_verifies(&file, "alice", "changed"));
    assert!(!apache_verifies(&file, "alice", "one"));
    assert!(apache_verifies(&file, "bob", "two"));
    assert!(apache_verifies(&file, "carol", "apache-made"));
    assert!(wharf(&["-vb", f, "carol", "apache-made"]).status.success());
    let wrong = wharf(&["-vb", f, "carol", "nope"]);
    assert_eq!(wrong.status.code(), Some(3));
    let text = std::fs::read_to_string(&file).unwrap();
    let users: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(users, ["# team registry", "alice", "carol", "bob"]);
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600, "edits keep the mode");

    let out = wharf(&["-D", f, "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!apache_verifies(&file, "alice", "changed"));
    assert!(apache_verifies(&file, "bob", "two"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("auth"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
}

/// Errors are one line naming the problem and the fix, with a non-zero exit status.
#[test]
fn errors_are_one_line_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none");
    let m = missing.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-b", m, "u", "p"], "use '-c' to create it"),
        (vec!["-D", m, "u"], "use '-c' to create it"),
        (vec!["-nbm", "u", "p"], "only bcrypt"),
        (vec!["-Bbn", "-C", "3", "u", "p"], "outside 4..=17"),
        (vec!["-Bbn", "a:b", "p"], "contains ':'"),
        (vec!["-Bn", "u", "extra"], "only with -b"),
    ];
    for (args, want) in cases {
        let out = wharf(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(err.starts_with("wharf htpasswd: "), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    assert!(!missing.exists());
}

/// `-i` reads the password from standard input, for scripts without a terminal.
#[test]
fn password_from_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["htpasswd", "-B", "-c", "-i"])
        .arg(&file)
        .arg("piped")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(apache_verifies(&file, "piped", "from stdin"));
}
