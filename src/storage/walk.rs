//! Finding marked directories in a tree, in byte-wise order, one page at a time (the catalog walk).
//!
//! The walk visits only what the page needs: subtrees that hold nothing after `after` are skipped
//! unlisted, and it stops once `limit` directories are found. It is synchronous, so a backend can run
//! it whole on one blocking thread instead of one task per directory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::Arc;

/// What [`find_dirs`] looks for.
#[derive(Debug, Clone, Copy)]
pub struct DirQuery<'a> {
    /// A directory is found when it has a child of this name.
    pub marker: &'a str,
    /// Children whose names start with this are never entered (nor found).
    pub skip_prefix: &'a str,
    /// Only paths strictly after this one (byte-wise) are returned.
    pub after: Option<&'a str>,
    /// At most this many paths are returned.
    pub limit: usize,
}

/// The directory tree as a backend sees it.
pub(crate) trait DirSource {
    /// The names of the child directories of `dir` (others may be included; they hold no marker and
    /// have no children), or `None` when `dir` does not exist or is not a directory.
    fn children(&self, dir: &str) -> io::Result<Option<Arc<Vec<String>>>>;
    /// Whether `dir` has a child named `name`.
    fn has_child(&self, dir: &str, name: &str) -> io::Result<bool>;
}

/// Paths, relative to `root`, of the directories under it that hold `query.marker`, sorted byte-wise,
/// strictly after `query.after`, at most `query.limit`.
pub(crate) fn find_dirs(
    src: &impl DirSource,
    root: &str,
    query: &DirQuery<'_>,
) -> io::Result<Vec<String>> {
    let mut found = Vec::new();
    if query.limit > 0 {
        visit(src, root, "", query, &mut found)?;
    }
    Ok(found)
}

/// The same page as [`find_dirs`], from the full list of file keys under the root (relative to it),
/// for backends that list a whole tree in one flat listing: a directory is found when a key passes
/// through `<dir>/<marker>/` with no skipped component before it.
pub fn dirs_from_files(files: &[String], query: &DirQuery<'_>) -> Vec<String> {
    let mut dirs = std::collections::BTreeSet::new();
    for file in files {
        let parts: Vec<&str> = file.split('/').collect();
        if let Some(i) = parts
            .iter()
            .position(|p| p.starts_with(query.skip_prefix) || *p == query.marker)
        {
            if parts[i] == query.marker && i > 0 && i + 1 < parts.len() {
                dirs.insert(parts[..i].join("/"));
            }
        }
    }
    dirs.into_iter()
        .filter(|d| query.after.is_none_or(|after| d.as_str() > after))
        .take(query.limit)
        .collect()
}

/// Visits the children of `root/rel`; returns true once the page is full.
///
/// Byte-wise order of full paths is not the order of a plain depth-first walk (`a/x` sorts after
/// `a-b`, as `/` sorts after `-` and `.`), so each child `c` contributes two entries ordered together
/// with its siblings' entries: `c` itself and `c/`, everything below it.
fn visit(
    src: &impl DirSource,
    root: &str,
    rel: &str,
    query: &DirQuery<'_>,
    found: &mut Vec<String>,
) -> io::Result<bool> {
    let dir = if rel.is_empty() {
        root.to_string()
    } else {
        format!("{root}/{rel}")
    };
    let Some(children) = src.children(&dir)? else {
        return Ok(false);
    };
    // Only entries that can hold something after `after` are kept, and they are taken in order from
    // a heap: a page deep into a large directory sorts nothing it does not need.
    let mut entries: Vec<Reverse<String>> = Vec::new();
    for child in children.iter() {
        if child.is_empty() || child.starts_with(query.skip_prefix) {
            continue;
        }
        let path = if rel.is_empty() {
            child.clone()
        } else {
            format!("{rel}/{child}")
        };
        let below = format!("{path}/");
        // Everything below starts with `below`: all of it sorts before `after` when `below` does and
        // is not a prefix of it.
        if !query
            .after
            .is_some_and(|a| below.as_str() < a && !a.starts_with(below.as_str()))
        {
            entries.push(Reverse(below));
        }
        if query.after.is_none_or(|a| path.as_str() > a) {
            entries.push(Reverse(path));
        }
    }
    let mut entries = BinaryHeap::from(entries);
    while let Some(Reverse(entry)) = entries.pop() {
        match entry.strip_suffix('/') {
            Some(path) => {
                if visit(src, root, path, query, found)? {
                    return Ok(true);
                }
            }
            None => {
                if src.has_child(&format!("{root}/{entry}"), query.marker)? {
                    found.push(entry);
                    if found.len() >= query.limit {
                        return Ok(true);
                    }
                }
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A tree given as the set of its marked directories.
    struct Marked(BTreeSet<String>);

    impl DirSource for Marked {
        fn children(&self, dir: &str) -> io::Result<Option<Arc<Vec<String>>>> {
            let prefix = format!("{dir}/");
            let mut names: Vec<String> = self
                .0
                .iter()
                .filter_map(|p| {
                    format!("root/{p}/m")
                        .strip_prefix(&prefix)
                        .map(str::to_string)
                })
                .filter_map(|rest| rest.split('/').next().map(str::to_string))
                .collect();
            names.sort();
            names.dedup();
            Ok((!names.is_empty()).then(|| Arc::new(names)))
        }

        fn has_child(&self, dir: &str, name: &str) -> io::Result<bool> {
            Ok(name == "m" && self.0.contains(dir.strip_prefix("root/").unwrap_or("")))
        }
    }

    /// Every page, of every size and starting point, is the matching slice of the byte-wise sorted
    /// list, also where a plain depth-first walk would get the order wrong.
    #[test]
    fn pages_are_slices_of_the_sorted_list() {
        let repos = [
            "a", "a/x", "a-b", "a.c", "a/x/y", "a_z", "b", "b/c/d", "ab", "a/-", "z/z/z",
        ];
        let tree = Marked(repos.iter().map(|s| s.to_string()).collect());
        let mut sorted: Vec<String> = tree.0.iter().cloned().collect();
        sorted.sort();
        let starts = std::iter::once(None)
            .chain(sorted.iter().map(|s| Some(s.as_str())))
            .chain([Some("a/"), Some("a0"), Some("0"), Some("zz")]);
        for after in starts {
            for limit in 0..=sorted.len() + 1 {
                let q = DirQuery {
                    marker: "m",
                    skip_prefix: "_",
                    after,
                    limit,
                };
                let want: Vec<String> = sorted
                    .iter()
                    .filter(|s| after.is_none_or(|a| s.as_str() > a))
                    .take(limit)
                    .cloned()
                    .collect();
                assert_eq!(
                    find_dirs(&tree, "root", &q).unwrap(),
                    want,
                    "after={after:?} limit={limit}"
                );
            }
        }
    }

    /// From a flat key list: marked directories (nested ones too), never inside skipped components,
    /// after `after`, at most `limit`.
    #[test]
    fn dirs_from_flat_keys() {
        let files: Vec<String> = [
            "a/_manifests/tags/x/current/link",
            "a/b/_manifests/revisions/sha256/aa/link",
            "a/_layers/sha256/bb/link",
            "c/_uploads/u/data",
            "d/_manifests/_x/link",
            "e/sub/_manifests/tags/t/current/link",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let query = |after, limit| DirQuery {
            marker: "_manifests",
            skip_prefix: "_",
            after,
            limit,
        };
        assert_eq!(
            dirs_from_files(&files, &query(None, 10)),
            ["a", "a/b", "d", "e/sub"]
        );
        assert_eq!(dirs_from_files(&files, &query(Some("a/b"), 1)), ["d"]);
    }
}
