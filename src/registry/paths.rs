//! Every storage key the registry uses, in one place: distribution's `v2` layout, byte for byte.
//!
//! Keys are `/`-separated strings relative to the storage root. They are built only from validated
//! [`RepoName`], [`Tag`], [`Digest`], [`UploadId`] and [`Uuid`] values, so no key can contain `..`, an empty
//! component or a component starting with `_` that a client chose.
//!
//! ```text
//! <root>                                          storage.filesystem.rootdirectory
//! └── docker/registry/v2/                          the health check stats this directory
//!     ├── blobs/<alg>/<hex[0:2]>/<hex>/data       raw bytes of layers, configs and manifests
//!     │                                           (garbage collection deletes <hex>/ whole)
//!     └── repositories/<name>/                     <name> may hold '/', e.g. library/ubuntu;
//!         │                                        a directory holding any of the `_` children
//!         │                                        below is a repository
//!         ├── _layers/<alg>/<hex>/link             blob linked into this repository
//!         ├── _manifests/
//!         │   ├── revisions/<alg>/<hex>/link       manifest stored in this repository
//!         │   └── tags/<tag>/
//!         │       ├── current/link                 digest the tag points at now
//!         │       └── index/<alg>/<hex>/link       every digest the tag has pointed at
//!         ├── _uploads/<uuid>/
//!         │   ├── data                             bytes received so far
//!         │   └── startedat                        RFC 3339 UTC start time
//!         └── _referrers/<alg>/<hex>/<alg>/<hex>/link
//!                                                  Wharf only: manifests whose `subject` is the first
//!                                                  digest (distribution ignores `_`-prefixed dirs)
//! └── docker/registry/v2/_wharf/                   Wharf only; distribution ignores it
//!     ├── catalog-index/<hex of name>              object storage: one per repository holding
//!     │                                            `_manifests`: the catalog index, read one flat
//!     │                                            listing page at a time (hex keys sort as the names
//!     │                                            do, and hold no `/`)
//!     ├── catalog-index-complete                   present once the index was built from a full walk
//!     ├── write-probe/<uuid>                       written and deleted by the start-up and health
//!     │                                            checks that storage is writable
//!     ├── trash/<hex of name>/<hex of tag>         a tag a retention policy deleted (JSON: digest,
//!     │                                            when, why, until when it is restorable)
//!     ├── pulls/<hex of name>/<alg>/<hex>          when that manifest was last pulled (RFC 3339)
//!     └── gc/                                      garbage collection's protocol with writers
//!         ├── running/<id>                         a running collection's record, rewritten as it beats
//!         ├── sweeping/<id>                        present while that collection deletes
//!         └── touched/<id>/<uuid>                  what one write made reachable while it ran
//! ```
//!
//! A link file holds the digest string with no trailing newline.

use crate::registry::digest::Digest;
use crate::registry::names::{RepoName, Tag, UploadId};
use uuid::Uuid;

const ROOT: &str = "docker/registry/v2";

/// Directory holding every blob.
pub fn blobs_root() -> String {
    format!("{ROOT}/blobs")
}

/// The bytes of a blob.
pub fn blob_data(d: &Digest) -> String {
    let hex = d.hex();
    format!(
        "{ROOT}/blobs/{}/{}/{hex}/data",
        d.algorithm().name(),
        &hex[..2]
    )
}

/// Directory holding every repository.
pub fn repositories_root() -> String {
    format!("{ROOT}/repositories")
}

/// A repository's directory.
pub fn repo(name: &RepoName) -> String {
    format!("{ROOT}/repositories/{name}")
}

/// Names of the directories a repository keeps its content in; any of them makes its parent a
/// repository. Other children of a repository's directory are nested repositories.
pub const REPO_CONTENT_DIRS: [&str; 4] = ["_layers", "_manifests", "_referrers", "_uploads"];

/// The content directories of a repository ([`REPO_CONTENT_DIRS`]), which removing it deletes.
pub fn repo_content_dirs(name: &RepoName) -> Vec<String> {
    REPO_CONTENT_DIRS
        .iter()
        .map(|dir| format!("{}/{dir}", repo(name)))
        .collect()
}

/// A repository's directory and those of its parents under `repositories/`, deepest first: what may
/// be left empty once the repository is removed.
pub fn repo_dir_and_parents(name: &RepoName) -> Vec<String> {
    let components: Vec<&str> = name.components().collect();
    (1..=components.len())
        .rev()
        .map(|n| format!("{ROOT}/repositories/{}", components[..n].join("/")))
        .collect()
}

/// The key of `child`, a name listed in directory `dir` (for walks over listings).
pub fn child(dir: &str, child: &str) -> String {
    format!("{dir}/{child}")
}

/// The root of the layout, stat-ed by the storage health check.
pub fn layout_root() -> String {
    ROOT.to_string()
}

/// Directory of the catalog index: one entry per repository (see [`crate::registry::catalog_index`]).
pub fn catalog_index_dir() -> String {
    format!("{ROOT}/_wharf/catalog-index")
}

/// A repository's entry in the catalog index: its name in hex, so entries list in the names' byte-wise
/// order (hex keeps it) and form no directory levels (a name's `/` would, and engines that list
/// level by level would then order `a/b` before `a-b`).
pub fn catalog_entry(name: &RepoName) -> String {
    format!(
        "{}/{}",
        catalog_index_dir(),
        catalog_entry_key(name.as_str())
    )
}

/// The key of a name's entry, relative to the index directory (also a listing's start for a page).
pub fn catalog_entry_key(name: &str) -> String {
    hex::encode(name)
}

/// The repository name an index entry key (relative to the index directory) stands for.
pub fn catalog_entry_name(key: &str) -> Option<String> {
    String::from_utf8(hex::decode(key).ok()?).ok()
}

/// Present once the catalog index holds every repository of a full walk.
pub fn catalog_index_complete() -> String {
    format!("{ROOT}/_wharf/catalog-index-complete")
}

/// Directory of a repository's tag index, one entry per tag whose current link Wharf wrote (see
/// [`crate::registry::catalog_index`]): the name in hex, as in the catalog index, then the tags, which
/// hold no `/`.
pub fn tag_index_dir(name: &RepoName) -> String {
    format!(
        "{ROOT}/_wharf/tag-index/{}",
        catalog_entry_key(name.as_str())
    )
}

/// A tag's entry in its repository's tag index.
pub fn tag_entry(name: &RepoName, tag: &Tag) -> String {
    format!("{}/{tag}", tag_index_dir(name))
}

/// Present once the tag index holds every tag of a full walk.
pub fn tag_index_complete() -> String {
    format!("{ROOT}/_wharf/tag-index-complete")
}

/// Directory of the trash: tags deleted by a retention policy, restorable until they expire (see
/// [`crate::registry::retention`]).
pub fn trash_dir() -> String {
    format!("{ROOT}/_wharf/trash")
}

/// A repository's directory in the trash: its name in hex, one level whatever its `/`s.
pub fn trash_repo_dir(name: &RepoName) -> String {
    format!("{}/{}", trash_dir(), hex::encode(name.as_str()))
}

/// The trash entry of a deleted tag.
pub fn trash_entry(name: &RepoName, tag: &Tag) -> String {
    format!("{}/{}", trash_repo_dir(name), hex::encode(tag.as_str()))
}

/// When a manifest was last pulled from a repository (see [`crate::registry::pulls`]); a file
/// registry:2 never reads.
pub fn pull_record(name: &RepoName, digest: &Digest) -> String {
    format!(
        "{}/{}/{}/{}",
        pull_records_dir(),
        hex::encode(name.as_str()),
        digest.algorithm().name(),
        digest.hex()
    )
}

/// Directory of every repository's pull records.
pub fn pull_records_dir() -> String {
    format!("{ROOT}/_wharf/pulls")
}

/// A file the writability check creates, reads back and deletes (`id` is a fresh UUID).
pub fn write_probe(id: &Uuid) -> String {
    format!("{ROOT}/_wharf/write-probe/{id}")
}

/// Directory of running garbage collections' records (see [`crate::registry::gc::protocol`]).
pub fn gc_announcements_dir() -> String {
    format!("{ROOT}/_wharf/gc/running")
}

/// A running garbage collection's record.
pub fn gc_announcement(id: &Uuid) -> String {
    format!("{}/{id}", gc_announcements_dir())
}

/// Directory of the records of processes that write to the storage (see
/// [`crate::registry::gc::writers`]).
pub fn gc_writers_dir() -> String {
    format!("{ROOT}/_wharf/gc/writers")
}

/// The record of a process that writes to the storage.
pub fn gc_writer(id: &Uuid) -> String {
    format!("{}/{id}", gc_writers_dir())
}

/// Directory of the markers of garbage collections that are deleting.
pub fn gc_sweeping_dir() -> String {
    format!("{ROOT}/_wharf/gc/sweeping")
}

/// Present while garbage collection `id` is deleting.
pub fn gc_sweeping(id: &Uuid) -> String {
    format!("{}/{id}", gc_sweeping_dir())
}

/// Directory of every garbage collection's touched records.
pub fn gc_touched_root() -> String {
    format!("{ROOT}/_wharf/gc/touched")
}

/// The touched records of garbage collection `id`.
pub fn gc_touched_dir(id: &Uuid) -> String {
    format!("{}/{id}", gc_touched_root())
}

/// One write's touched record in garbage collection `id`.
pub fn gc_touched(id: &Uuid, record: &Uuid) -> String {
    format!("{}/{record}", gc_touched_dir(id))
}

/// A blob's directory, removed whole by garbage collection.
pub fn blob_dir(d: &Digest) -> String {
    let hex = d.hex();
    format!("{ROOT}/blobs/{}/{}/{hex}", d.algorithm().name(), &hex[..2])
}

/// A key that orders blobs so that neighbours lie in different fan-out directories
/// (`blobs/<alg>/<first two hex digits>/`): the hex digits after those two. A filesystem removes a
/// blob's directory holding its parent's lock (and, mounted with `discard`, waits there for the
/// device), so deletes in flight in one fan-out directory take turns.
pub fn fan_out_spread(d: &Digest) -> &str {
    &d.hex()[2..]
}

/// Directory of a repository's layer links (`<alg>/<hex>/link`).
pub fn layers_dir(name: &RepoName) -> String {
    format!("{}/_layers", repo(name))
}

/// Directory of a repository's manifest revision links (`<alg>/<hex>/link`).
pub fn revisions_dir(name: &RepoName) -> String {
    format!("{}/_manifests/revisions", repo(name))
}

/// Marks `d` as a blob of repository `name`.
pub fn layer_link(name: &RepoName, d: &Digest) -> String {
    format!(
        "{}/_layers/{}/{}/link",
        repo(name),
        d.algorithm().name(),
        d.hex()
    )
}

/// The `_manifests` directory whose presence makes a directory a repository.
pub fn manifests_dir(name: &RepoName) -> String {
    format!("{}/_manifests", repo(name))
}

/// Marks `d` as a manifest of repository `name`.
pub fn revision_link(name: &RepoName, d: &Digest) -> String {
    format!(
        "{}/_manifests/revisions/{}/{}/link",
        repo(name),
        d.algorithm().name(),
        d.hex()
    )
}

/// Directory of a repository's tags.
pub fn tags_dir(name: &RepoName) -> String {
    format!("{}/_manifests/tags", repo(name))
}

/// Directory of one tag.
pub fn tag_dir(name: &RepoName, tag: &Tag) -> String {
    format!("{}/{tag}", tags_dir(name))
}

/// The digest a tag points at now.
pub fn tag_current_link(name: &RepoName, tag: &Tag) -> String {
    format!("{}/current/link", tag_dir(name, tag))
}

/// Directory of a tag's history: the links of every digest it pointed at.
pub fn tag_history_dir(name: &RepoName, tag: &Tag) -> String {
    format!("{}/index", tag_dir(name, tag))
}

/// Records that `tag` has pointed at `d`.
pub fn tag_index_link(name: &RepoName, tag: &Tag, d: &Digest) -> String {
    format!(
        "{}/index/{}/{}/link",
        tag_dir(name, tag),
        d.algorithm().name(),
        d.hex()
    )
}

/// Directory of a repository's upload sessions.
pub fn uploads_dir(name: &RepoName) -> String {
    format!("{}/_uploads", repo(name))
}

/// Directory of one upload session.
pub fn upload_dir(name: &RepoName, id: &UploadId) -> String {
    format!("{}/{id}", uploads_dir(name))
}

/// Bytes received so far by an upload.
pub fn upload_data(name: &RepoName, id: &UploadId) -> String {
    format!("{}/data", upload_dir(name, id))
}

/// When an upload started (RFC 3339, UTC).
pub fn upload_started_at(name: &RepoName, id: &UploadId) -> String {
    format!("{}/startedat", upload_dir(name, id))
}

/// Directory listing the manifests that name `subject` as their subject.
pub fn referrers_dir(name: &RepoName, subject: &Digest) -> String {
    format!(
        "{}/_referrers/{}/{}",
        repo(name),
        subject.algorithm().name(),
        subject.hex()
    )
}

/// Records that manifest `referrer` has `subject` as its subject.
pub fn referrer_link(name: &RepoName, subject: &Digest, referrer: &Digest) -> String {
    format!(
        "{}/{}/{}/link",
        referrers_dir(name, subject),
        referrer.algorithm().name(),
        referrer.hex()
    )
}

/// The tags' current links, relative to [`manifests_dir`] (a [`crate::storage::ScanPattern`] key):
/// a scan reads them without entering the tags' histories (`tags/<tag>/index/<alg>/<hex>/link`).
pub const TAG_CURRENT_LINKS: &str = "tags/*/current/link";

/// The tags' history links (`tags/<tag>/index/<alg>/<hex>/link`, one per manifest the tag has
/// pointed at), relative to [`manifests_dir`] (a [`crate::storage::ScanPattern`] key).
pub const TAG_HISTORY_LINKS: &str = "tags/*/index/*/*/link";

/// The revision links, relative to [`manifests_dir`] (a [`crate::storage::ScanPattern`] key).
pub const REVISION_LINKS: &str = "revisions/*/*/link";

/// What a file below a repository's `_manifests` directory is.
#[derive(Debug, PartialEq)]
pub enum ManifestsFile {
    /// `revisions/<alg>/<hex>/link`: the repository holds that manifest.
    Revision(Digest),
    /// `tags/<tag>/current/link`: the tag's current link.
    TagCurrent(Tag),
    /// `tags/<tag>/index/<alg>/<hex>/link`: the tag has pointed at that manifest.
    TagHistory(Tag, Digest),
    /// Any other file of a tag.
    TagOther(Tag),
    /// Anything else.
    Other,
}

/// What the file at `rel` (relative to [`manifests_dir`]) is.
pub fn manifests_file(rel: &str) -> ManifestsFile {
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        ["revisions", rest @ ..] => {
            link_digest(rest).map_or(ManifestsFile::Other, ManifestsFile::Revision)
        }
        ["tags", tag, rest @ ..] => match tag.parse() {
            Ok(tag) if rest == ["current", "link"] => ManifestsFile::TagCurrent(tag),
            Ok(tag) => match rest {
                ["index", link @ ..] => match link_digest(link) {
                    Some(d) => ManifestsFile::TagHistory(tag, d),
                    None => ManifestsFile::TagOther(tag),
                },
                _ => ManifestsFile::TagOther(tag),
            },
            Err(_) => ManifestsFile::Other,
        },
        _ => ManifestsFile::Other,
    }
}

fn link_digest(parts: &[&str]) -> Option<Digest> {
    match parts {
        [alg, hex, "link"] => format!("{alg}:{hex}").parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ordered by [`fan_out_spread`], blobs of one fan-out directory are not neighbours: two blobs
    /// under `aa/` and one under `bb/` come out `aa`, `bb`, `aa`.
    #[test]
    fn the_spread_order_interleaves_fan_out_directories() {
        let digest = |hex: String| -> Digest { format!("sha256:{hex}").parse().unwrap() };
        let mut blobs = [
            digest(format!("aa00{}", "0".repeat(60))),
            digest(format!("aa22{}", "0".repeat(60))),
            digest(format!("bb11{}", "0".repeat(60))),
        ];
        blobs.sort_by(|a, b| fan_out_spread(a).cmp(fan_out_spread(b)));
        let dirs: Vec<String> = blobs
            .iter()
            .map(|d| blob_dir(d).rsplit('/').nth(1).unwrap().to_string())
            .collect();
        assert_eq!(dirs, ["aa", "bb", "aa"]);
    }

    /// Files of a scan of `_manifests` are told apart by their place.
    #[test]
    fn scanned_files_are_classified() {
        let hex = "cd".repeat(32);
        let d: Digest = format!("sha256:{hex}").parse().unwrap();
        let tag: Tag = "v1".parse().unwrap();
        assert_eq!(
            manifests_file(&format!("revisions/sha256/{hex}/link")),
            ManifestsFile::Revision(d.clone())
        );
        assert_eq!(
            manifests_file("tags/v1/current/link"),
            ManifestsFile::TagCurrent(tag.clone())
        );
        assert_eq!(
            manifests_file(&format!("tags/v1/index/sha256/{hex}/link")),
            ManifestsFile::TagHistory(tag.clone(), d)
        );
        assert_eq!(
            manifests_file("tags/v1/index/sha256/zz/link"),
            ManifestsFile::TagOther(tag)
        );
        assert_eq!(
            manifests_file("revisions/sha256/zz/link"),
            ManifestsFile::Other
        );
        assert_eq!(
            manifests_file(&format!("revisions/sha256/{hex}/data")),
            ManifestsFile::Other
        );
    }

    /// Keys match distribution's layout exactly, including the two-character fan-out for blobs only.
    #[test]
    fn layout_matches_distribution() {
        let hex = "ab".repeat(32);
        let d: Digest = format!("sha256:{hex}").parse().unwrap();
        let name: RepoName = "library/ubuntu".parse().unwrap();
        let tag: Tag = "latest".parse().unwrap();
        let r = "docker/registry/v2/repositories/library/ubuntu";
        assert_eq!(
            blob_data(&d),
            format!("docker/registry/v2/blobs/sha256/ab/{hex}/data")
        );
        assert_eq!(
            layer_link(&name, &d),
            format!("{r}/_layers/sha256/{hex}/link")
        );
        assert_eq!(
            revision_link(&name, &d),
            format!("{r}/_manifests/revisions/sha256/{hex}/link")
        );
        assert_eq!(
            tag_current_link(&name, &tag),
            format!("{r}/_manifests/tags/latest/current/link")
        );
        assert_eq!(
            tag_index_link(&name, &tag, &d),
            format!("{r}/_manifests/tags/latest/index/sha256/{hex}/link")
        );
        assert_eq!(
            blob_dir(&d),
            format!("docker/registry/v2/blobs/sha256/ab/{hex}")
        );
        assert_eq!(
            repo_dir_and_parents(&name),
            vec![
                r.to_string(),
                "docker/registry/v2/repositories/library".into()
            ]
        );
    }
}
