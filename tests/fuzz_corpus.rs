//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz target bodies of
//! `fuzz/bodies.rs` on stable Rust, so every parser invariant the fuzzers check (round trips, no
//! panics) is checked on each `./scripts/test` run without cargo-fuzz.

#[allow(dead_code)]
#[path = "../fuzz/bodies.rs"]
mod bodies;

use std::path::Path;

/// Every file of a target's corpus, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            (name, std::fs::read(&path).expect("corpus file"))
        })
        .collect();
    files.sort();
    files
}

/// Every target has a corpus of 1 to 200 files, and every file of it passes the target's body.
#[test]
fn every_corpus_file_passes_its_target() {
    for (target, body) in bodies::TARGETS {
        let files = corpus(target);
        assert!(
            !files.is_empty() && files.len() <= 200,
            "{target}: {} corpus files",
            files.len()
        );
        for (name, data) in files {
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(
                outcome.is_ok(),
                "fuzz/corpus/{target}/{name} fails {target}"
            );
        }
    }
}

/// The corpus reaches the accepting side of the parsers: a valid digest, name, tag, route, range,
/// manifest, htpasswd user and token are among the inputs, so the round-trip checks run.
#[test]
fn corpus_holds_accepted_inputs() {
    use wharf::registry::digest::Digest;
    use wharf::registry::names::{RepoName, Tag};
    let text = |target: &str| -> Vec<String> {
        corpus(target)
            .into_iter()
            .filter_map(|(_, d)| String::from_utf8(d).ok())
            .collect()
    };
    assert!(text("digest").iter().any(|t| t.parse::<Digest>().is_ok()));
    assert!(text("repo_name")
        .iter()
        .any(|t| t.parse::<RepoName>().is_ok()));
    assert!(text("reference").iter().any(|t| t.parse::<Tag>().is_ok()));
    assert!(text("route")
        .iter()
        .any(|t| wharf::api::route::parse(t).is_ok()));
    assert!(text("content_range")
        .iter()
        .any(|t| wharf::api::parse_content_range(t).is_some()));
    assert!(corpus("manifest").iter().any(
        |(_, d)| d.len() > 1 && wharf::registry::manifest_format::parse(None, &d[1..]).is_ok()
    ));
    assert!(text("token")
        .iter()
        .any(|t| bodies::token_auth().verify(t).is_some()));
    assert!(text("htpasswd")
        .iter()
        .any(|t| !wharf::auth::htpasswd::parse(t).users.is_empty()));
    assert!(text("registry_env").iter().any(|t| {
        let vars = t.lines().map(|l| {
            let (n, v) = l.split_once('=').unwrap_or((l, ""));
            (format!("REGISTRY_{n}"), v.to_string())
        });
        wharf::config::Config::load(None, wharf::config::RegistryEnv::from_vars(vars)).is_ok()
    }));
}
