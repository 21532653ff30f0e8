//! The configuration reference in docs/configuration.md lists exactly the keys the configuration knows.

use std::collections::BTreeSet;

use wharf::config::keys::KEYS;

/// Every known key has a row in the docs' key table, and every row is a known key, with the status the
/// code gives it.
#[test]
fn docs_list_exactly_the_known_keys() {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let rows: BTreeSet<(String, String)> = docs
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let key = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let status = cells.get(4)?.to_string();
            let pattern = key.replace(".<name>", ".*").replace(".<any>", ".**");
            Some((pattern, status))
        })
        .collect();
    let known: BTreeSet<(String, String)> = KEYS
        .iter()
        .map(|(pattern, support)| {
            let status = match support {
                wharf::config::keys::Support::Implemented => "yes",
                wharf::config::keys::Support::Unneeded => "not needed",
                wharf::config::keys::Support::NotYet => "warns",
                wharf::config::keys::Support::Refused => "refused",
            };
            (pattern.to_string(), status.to_string())
        })
        .collect();
    let missing: Vec<_> = known.difference(&rows).collect();
    let extra: Vec<_> = rows.difference(&known).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not in docs: {missing:?}\nnot in code: {extra:?}"
    );
}
