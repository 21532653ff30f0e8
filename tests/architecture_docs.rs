//! docs/architecture.md names every module of `src/`, and every module it names exists.

use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn rust_files(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(ROOT).unwrap();
            out.insert(relative.to_string_lossy().into_owned());
        }
    }
}

/// The module table lists exactly the `.rs` files under `src/`.
#[test]
fn module_table_matches_the_tree() {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/architecture.md")).unwrap();
    let named: BTreeSet<String> = doc
        .lines()
        .filter_map(|line| line.strip_prefix("| `src/"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(path, _)| format!("src/{path}"))
        .collect();
    let mut present = BTreeSet::new();
    rust_files(&Path::new(ROOT).join("src"), &mut present);
    let missing: Vec<_> = named.difference(&present).collect();
    let unnamed: Vec<_> = present.difference(&named).collect();
    assert!(
        missing.is_empty() && unnamed.is_empty(),
        "named but not in src/: {missing:?}\nin src/ but not named: {unnamed:?}"
    );
}
