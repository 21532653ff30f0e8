//! The storage contract, as one suite every backend runs: what the registry services rely on.

use bytes::Bytes;
use futures_util::StreamExt;

use super::filesystem::Filesystem;
use super::memory::Memory;
use super::{DirQuery, Storage, StorageError};

async fn read_all(s: &dyn Storage, key: &str, offset: u64, len: u64) -> Vec<u8> {
    let mut stream = s.read(key, offset, len).await.expect("read");
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

/// Runs every contract check against one backend.
async fn contract(s: &dyn Storage) {
    // get/put/stat of small files, with parents created.
    assert!(matches!(
        s.get("a/b/c").await,
        Err(StorageError::NotFound(_))
    ));
    s.put("a/b/c", Bytes::from_static(b"one")).await.unwrap();
    assert_eq!(s.get("a/b/c").await.unwrap().as_ref(), b"one");
    s.put("a/b/c", Bytes::from_static(b"three")).await.unwrap();
    assert_eq!(s.get("a/b/c").await.unwrap().as_ref(), b"three");
    let meta = s.stat("a/b/c").await.unwrap();
    assert_eq!((meta.size, meta.is_dir), (5, false));
    assert!(s.stat("a/b").await.unwrap().is_dir);

    // list: sorted child names, files and directories alike.
    s.put("a/b/a", Bytes::from_static(b"x")).await.unwrap();
    s.put("a/b/d/e", Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(s.list("a/b").await.unwrap(), vec!["a", "c", "d"]);
    assert!(matches!(
        s.list("nope").await,
        Err(StorageError::NotFound(_))
    ));

    // appender: appends across openings; ranged streaming reads.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = s.appender("up/data").await.unwrap();
    w.append(Bytes::copy_from_slice(&data[..100_000]))
        .await
        .unwrap();
    w.append(Bytes::copy_from_slice(&data[100_000..200_000]))
        .await
        .unwrap();
    w.close().await.unwrap();
    let mut w = s.appender("up/data").await.unwrap();
    w.append(Bytes::copy_from_slice(&data[200_000..]))
        .await
        .unwrap();
    w.close().await.unwrap();
    assert_eq!(s.stat("up/data").await.unwrap().size, 300_000);
    assert_eq!(read_all(s, "up/data", 0, 300_000).await, data);
    assert_eq!(
        read_all(s, "up/data", 123_456, 1000).await,
        &data[123_456..124_456]
    );

    // commit moves into place; committing onto existing content keeps the existing content.
    s.commit("up/data", "blobs/x/data").await.unwrap();
    assert!(matches!(
        s.stat("up/data").await,
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(s.stat("blobs/x/data").await.unwrap().size, 300_000);
    s.put("up2/data", Bytes::from_static(b"dup")).await.unwrap();
    s.commit("up2/data", "blobs/x/data").await.unwrap();
    assert_eq!(s.stat("blobs/x/data").await.unwrap().size, 300_000);
    assert!(matches!(
        s.get("up2/data").await,
        Err(StorageError::NotFound(_))
    ));

    // find_dirs: directories holding the marker, byte-wise sorted, paged, `_` dirs not entered.
    for key in [
        "r/a/_m/x",
        "r/a/x/_m/y",
        "r/a-b/_m/z",
        "r/_skip/q/_m/w",
        "r/c/file",
    ] {
        s.put(key, Bytes::from_static(b"x")).await.unwrap();
    }
    let page = |after, limit| DirQuery {
        marker: "_m",
        skip_prefix: "_",
        after,
        limit,
    };
    assert_eq!(
        s.find_dirs("r", &page(None, 10)).await.unwrap(),
        vec!["a", "a-b", "a/x"]
    );
    assert_eq!(
        s.find_dirs("r", &page(Some("a"), 1)).await.unwrap(),
        vec!["a-b"]
    );
    assert!(s
        .find_dirs("nope", &page(None, 10))
        .await
        .unwrap()
        .is_empty());
    s.delete("r").await.unwrap();

    // delete: files and whole trees; absent keys are NotFound.
    s.delete("a/b/c").await.unwrap();
    assert_eq!(s.list("a/b").await.unwrap(), vec!["a", "d"]);
    s.delete("a").await.unwrap();
    assert!(matches!(
        s.stat("a/b/d/e").await,
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        s.delete("a").await,
        Err(StorageError::NotFound(_))
    ));
}

/// The filesystem backend honours the storage contract and leaves no temporary files behind.
#[tokio::test]
async fn filesystem_contract() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Filesystem::new(dir.path());
    contract(&fs).await;
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            assert!(
                !p.to_string_lossy().ends_with(".tmp"),
                "stray temp file {p:?}"
            );
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
}

/// The in-memory backend honours the storage contract.
#[tokio::test]
async fn memory_contract() {
    contract(&Memory::new()).await;
}

/// Filesystem keys that could escape the root are refused before touching the disk.
#[tokio::test]
async fn filesystem_refuses_unsafe_keys() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Filesystem::new(dir.path().join("root"));
    for key in ["../x", "a/../../x", "a//b", "/abs", "a/./b"] {
        assert!(
            fs.put(key, Bytes::from_static(b"x")).await.is_err(),
            "{key}"
        );
    }
    assert!(!dir.path().join("x").exists());
}
