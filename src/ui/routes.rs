//! The UI's page addresses, under its base path. Repository names contain `/`, so everything about a
//! repository lives under `<base>r/<name>` and sub-pages follow a `/-/` segment, which can never be
//! part of a valid name. Parsing is a pure function over the path after `<base>r/`, validating names
//! and tags before any handler runs.

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

/// The UI's addresses under its base path: `/` for `wharf ui`, `ui.path` (e.g. `/ui/`) when
/// `wharf serve` embeds it. Every link, form and asset URL the pages print comes from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    base: String,
}

impl Links {
    /// Addresses under `base`, which starts and ends with `/`.
    pub fn new(base: &str) -> Links {
        Links {
            base: base.to_string(),
        }
    }

    /// The catalog, which is the base path itself.
    pub fn home(&self) -> &str {
        &self.base
    }

    /// `<base>r/<name>`.
    pub fn repository(&self, name: &str) -> String {
        format!("{}r/{name}", self.base)
    }

    /// `<base>r/<name>/-/tags/<tag>`.
    pub fn tag(&self, name: &str, tag: &str) -> String {
        format!("{}r/{name}/-/tags/{tag}", self.base)
    }

    /// `<base>r/<name>/-/delete`.
    pub fn delete(&self, name: &str) -> String {
        format!("{}r/{name}/-/delete", self.base)
    }

    /// `<base>disk`: what uses the disk.
    pub fn disk(&self) -> String {
        format!("{}disk", self.base)
    }

    /// `<base>retention`: the retention preview, and applying it.
    pub fn retention(&self) -> String {
        format!("{}retention", self.base)
    }

    /// `<base>trash`: the trash, and restoring from it.
    pub fn trash(&self) -> String {
        format!("{}trash", self.base)
    }

    /// `<base>r/<name>/-/delete-repository`.
    pub fn delete_repository(&self, name: &str) -> String {
        format!("{}r/{name}/-/delete-repository", self.base)
    }
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

    /// Every address starts with the base path.
    #[test]
    fn links_under_base() {
        let links = Links::new("/ui/");
        assert_eq!(links.home(), "/ui/");
        assert_eq!(links.repository("a/b"), "/ui/r/a/b");
        assert_eq!(links.tag("a", "v1"), "/ui/r/a/-/tags/v1");
        assert_eq!(links.delete("a"), "/ui/r/a/-/delete");
        assert_eq!(links.disk(), "/ui/disk");
        assert_eq!(links.retention(), "/ui/retention");
        assert_eq!(links.trash(), "/ui/trash");
        assert_eq!(
            Links::new("/").delete_repository("a"),
            "/r/a/-/delete-repository"
        );
    }
}
