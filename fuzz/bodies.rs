//! The bodies of Wharf's fuzz targets: each takes arbitrary bytes, runs one parser of the `wharf`
//! library on them and asserts its invariants (round trips where the parser has an inverse, no
//! panics). The cargo-fuzz targets in `fuzz/fuzz_targets/` call them, and `tests/fuzz_corpus.rs`
//! replays the committed corpus in `fuzz/corpus/<target>/` through them on stable Rust.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use wharf::api::parse_content_range;
use wharf::api::route::{self, Route, WharfRoute};
use wharf::auth::htpasswd;
use wharf::auth::token::TokenAuth;
use wharf::config::{Config, RegistryEnv, TokenConfig};
use wharf::registry::digest::Digest;
use wharf::registry::manifest_format::{self, Reference as Needed};
use wharf::registry::names::{Reference, RepoName, Tag, MAX_NAME_LEN};

/// A fuzz target's body.
pub type Body = fn(&[u8]);

/// Every target: its name (the directory of its corpus) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("digest", digest),
    ("repo_name", repo_name),
    ("reference", reference),
    ("route", route),
    ("content_range", content_range),
    ("manifest", manifest),
    ("htpasswd", htpasswd_file),
    ("token", token),
    ("registry_env", registry_env),
];

/// A digest that parses prints back as the same text, and its hex is safe as a path component.
pub fn digest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = text.parse::<Digest>() {
        assert_eq!(d.to_string(), text);
        assert!(d
            .hex()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(d.to_string().parse::<Digest>().ok(), Some(d));
    }
}

/// A repository name that parses is the same text, at most 255 bytes, of lowercase alphanumerics and
/// separators, with no empty, `.` or `..` component: it cannot leave its directory in storage.
pub fn repo_name(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = text.parse::<RepoName>() {
        assert_eq!(name.as_str(), text);
        assert!(text.len() <= MAX_NAME_LEN);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b)));
        for component in name.components() {
            assert!(!component.is_empty() && component != "." && component != "..");
        }
        assert_eq!(name.to_string().parse::<RepoName>().ok(), Some(name));
    }
}

/// A manifest reference (a digest when it holds `:`, else a tag, as the router reads it) prints back
/// as the same text; a tag is at most 128 bytes with no `/`.
pub fn reference(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = if text.contains(':') {
        text.parse::<Digest>().ok().map(Reference::Digest)
    } else {
        text.parse::<Tag>().ok().map(Reference::Tag)
    };
    if let Some(r) = parsed {
        assert_eq!(r.to_string(), text);
        if let Reference::Tag(tag) = &r {
            assert!(tag.as_str().len() <= 128 && !tag.as_str().contains('/'));
            assert!(tag.as_str() != "." && tag.as_str() != "..");
        }
    }
}

/// The path of a route, as a client would request it.
pub fn route_path(route: &Route) -> String {
    match route {
        Route::Base => "/v2/".to_string(),
        Route::Catalog => "/v2/_catalog".to_string(),
        Route::Tags(n) => format!("/v2/{n}/tags/list"),
        Route::Manifest(n, r) => format!("/v2/{n}/manifests/{r}"),
        Route::Blob(n, d) => format!("/v2/{n}/blobs/{d}"),
        Route::Uploads(n) => format!("/v2/{n}/blobs/uploads/"),
        Route::Upload(n, id) => format!("/v2/{n}/blobs/uploads/{id}"),
        Route::Referrers(n, d) => format!("/v2/{n}/referrers/{d}"),
        Route::Wharf(WharfRoute::Catalog) => "/v2/_wharf/catalog".to_string(),
        Route::Wharf(WharfRoute::Usage) => "/v2/_wharf/usage".to_string(),
        Route::Wharf(WharfRoute::Retention) => "/v2/_wharf/retention".to_string(),
        Route::Wharf(WharfRoute::Trash) => "/v2/_wharf/trash".to_string(),
        Route::Wharf(WharfRoute::Restore) => "/v2/_wharf/trash/restore".to_string(),
        Route::Wharf(WharfRoute::TagTimes(n)) => format!("/v2/_wharf/tags/{n}"),
    }
}

/// A path that routes to an endpoint routes to the same endpoint when rebuilt from its parameters.
pub fn route(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = route::parse(path) {
        let rebuilt = route_path(&r);
        assert_eq!(
            route::parse(&rebuilt),
            Ok(r),
            "{path:?} rebuilt as {rebuilt:?}"
        );
    }
}

/// A `Content-Range` that parses has `start <= end` and parses the same in its canonical forms.
pub fn content_range(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((start, end)) = parse_content_range(value) {
        assert!(start <= end);
        assert_eq!(
            parse_content_range(&format!("{start}-{end}")),
            Some((start, end))
        );
        assert_eq!(
            parse_content_range(&format!("bytes {start}-{end}/*")),
            Some((start, end))
        );
    }
}

/// The `Content-Type` a manifest fuzz input is sent with, chosen by its first byte.
const MANIFEST_CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some(manifest_format::OCI_MANIFEST),
    Some(manifest_format::OCI_INDEX),
    Some(manifest_format::DOCKER_MANIFEST),
    Some(manifest_format::DOCKER_LIST),
    Some("text/html"),
];

/// Parsing a manifest is deterministic; every blob and child manifest it needs has a valid digest
/// that prints back as itself; and without a specific `Content-Type` the media type served for the
/// stored bytes is the one validated at push.
pub fn manifest(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let content_type = MANIFEST_CONTENT_TYPES[usize::from(selector) % MANIFEST_CONTENT_TYPES.len()];
    let first = manifest_format::parse(content_type, bytes);
    let second = manifest_format::parse(content_type, bytes);
    assert_eq!(first.is_ok(), second.is_ok());
    let served = manifest_format::stored_media_type(bytes);
    if let Ok(parsed) = first {
        for needed in parsed.references.iter().chain(
            parsed
                .subject
                .iter()
                .map(|s| Needed::Manifest(s.clone()))
                .collect::<Vec<_>>()
                .iter(),
        ) {
            let (Needed::Blob(d) | Needed::Manifest(d)) = needed;
            assert_eq!(d.to_string().parse::<Digest>().as_ref(), Ok(d));
        }
        if matches!(content_type, None | Some("application/json")) {
            assert_eq!(parsed.media_type, served);
        }
    }
}

/// Reading an htpasswd file keeps only users with a bcrypt hash, under names without `:`, at most one
/// per line.
pub fn htpasswd_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = htpasswd::parse(&text);
    assert!(parsed.users.len() <= text.lines().count());
    for (user, hash) in &parsed.users {
        assert!(!user.contains(':'));
        assert!(htpasswd::is_bcrypt(hash));
        assert!(text.contains(&format!("{user}:{hash}")));
    }
}

/// The certificate whose key signed the token seeds of the corpus (`fuzz/token/`).
const TOKEN_CERT: &[u8] = include_bytes!("token/cert.pem");

/// A token verifier trusting [`TOKEN_CERT`] for the service `wharf-fuzz` of the issuer
/// `fuzz-issuer`.
pub fn token_auth() -> &'static TokenAuth {
    static AUTH: OnceLock<TokenAuth> = OnceLock::new();
    AUTH.get_or_init(|| {
        let path: PathBuf =
            std::env::temp_dir().join(format!("wharf-fuzz-token-{}.pem", std::process::id()));
        let mut file = std::fs::File::create(&path).expect("write the token certificate");
        file.write_all(TOKEN_CERT)
            .expect("write the token certificate");
        let auth = TokenAuth::open(&TokenConfig {
            realm: "https://auth.example/token".into(),
            service: "wharf-fuzz".into(),
            issuer: "fuzz-issuer".into(),
            rootcertbundle: Some(path.clone()),
            autoredirect: false,
        })
        .expect("the token certificate is usable");
        let _ = std::fs::remove_file(path);
        auth
    })
}

/// Verifying a bearer token is deterministic, and only a three-part compact JWS can verify.
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let auth = token_auth();
    let first = auth.verify(text);
    assert_eq!(first.is_some(), auth.verify(text).is_some());
    if first.is_some() {
        assert_eq!(text.split('.').count(), 3);
    }
}

/// `REGISTRY_*` variables from the lines `NAME=value` of the input (the prefix is added): loading
/// them never panics, gives the same outcome twice, and a loaded configuration renders.
pub fn registry_env(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let vars: Vec<(String, String)> = text
        .lines()
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap_or((line, ""));
            (format!("REGISTRY_{name}"), value.to_string())
        })
        .collect();
    let first = Config::load_with_sources(None, RegistryEnv::from_vars(vars.clone()));
    let second = Config::load_with_sources(None, RegistryEnv::from_vars(vars));
    assert_eq!(first.is_ok(), second.is_ok());
    if let Ok(loaded) = first {
        assert!(!loaded.render().is_empty());
    }
}
