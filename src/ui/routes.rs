//! The UI's page addresses. Repository names contain `/`, so everything about a repository lives
//! under `/r/<name>` and sub-pages follow a `/-/` segment, which can never be part of a valid name.
//! Parsing is a pure function over the path, validating names and tags before any handler runs.

use crate::registry::names::{RepoName, Tag};

/// A page under `/r/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoRoute {
    /// `/r/<name>`: the tag list.
    Repository(RepoName),
    /// `/r/<name>/-/tags/<tag>`: one tag.
    Tag(RepoName, Tag),
    /// `/r/<name>/-/delete`: confirm (then perform) deleting tags or images.
    Delete(RepoName),
    /// `/r/<name>/-/delete-repository`: confirm (then perform) deleting every image.
    DeleteRepository(RepoName),
}

/// Parses the path after `/r/`; `None` for anything that is not a page.
pub fn parse(rest: &str) -> Option<RepoRoute> {
    let (name, sub) = match rest.split_once("/-/") {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest.trim_end_matches('/'), None),
    };
    let name: RepoName = name.parse().ok()?;
    match sub {
        None => Some(RepoRoute::Repository(name)),
        Some("delete") => Some(RepoRoute::Delete(name)),
        Some("delete-repository") => Some(RepoRoute::DeleteRepository(name)),
        Some(sub) => {
            let tag = sub.strip_prefix("tags/")?.parse().ok()?;
            Some(RepoRoute::Tag(name, tag))
        }
    }
}

/// `/r/<name>`.
pub fn repository(name: &str) -> String {
    format!("/r/{name}")
}

/// `/r/<name>/-/tags/<tag>`.
pub fn tag(name: &str, tag: &str) -> String {
    format!("/r/{name}/-/tags/{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    /// Nested names, tags and the delete pages parse; invalid names and tags do not.
    #[test]
    fn table() {
        let cases: Vec<(&str, Option<RepoRoute>)> = vec![
            ("alpine", Some(RepoRoute::Repository(name("alpine")))),
            ("team/app/", Some(RepoRoute::Repository(name("team/app")))),
            (
                "team/app/-/tags/v1.0",
                Some(RepoRoute::Tag(name("team/app"), "v1.0".parse().unwrap())),
            ),
            ("a/b/-/delete", Some(RepoRoute::Delete(name("a/b")))),
            (
                "a/-/delete-repository",
                Some(RepoRoute::DeleteRepository(name("a"))),
            ),
            ("Upper", None),
            ("a/-/tags/", None),
            ("a/-/tags/bad:tag", None),
            ("a/-/other", None),
            ("../etc", None),
        ];
        for (path, want) in cases {
            assert_eq!(parse(path), want, "{path}");
        }
    }
}
