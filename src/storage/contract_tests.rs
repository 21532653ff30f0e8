//! The storage contract, as one suite every backend runs: what the registry services rely on. The S3
//! backend runs it against SeaweedFS and moto servers started by the tests (`tests/common/s3_servers.rs`).

use bytes::Bytes;
use futures_util::StreamExt;

use super::filesystem::Filesystem;
use super::memory::Memory;
use super::s3::S3;
use super::{DirQuery, ScanPattern, ScanRead, ScannedFile, Storage, StorageError};
use crate::config::S3Config;

#[path = "../../tests/common/s3_servers.rs"]
mod s3_servers;

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

    // put_transient: the same atomic write, parents created, read back at once; it replaces too.
    s.put_transient("t/u/marker", Bytes::from_static(b"first"))
        .await
        .unwrap();
    s.put_transient("t/u/marker", Bytes::from_static(b"second"))
        .await
        .unwrap();
    assert_eq!(s.get("t/u/marker").await.unwrap().as_ref(), b"second");
    assert_eq!(s.list("t/u").await.unwrap(), vec!["marker"]);
    s.delete("t").await.unwrap();

    // get_many: one result per key, in order, a missing file as NotFound.
    let many = s
        .get_many(&[
            "a/b/c".to_string(),
            "a/b/nope".to_string(),
            "a/b/c".to_string(),
        ])
        .await;
    assert_eq!(many.len(), 3);
    assert_eq!(many[0].as_ref().unwrap().as_ref(), b"three");
    assert!(matches!(many[1], Err(StorageError::NotFound(_))));
    assert_eq!(many[2].as_ref().unwrap().as_ref(), b"three");
    assert!(s.get_many(&[]).await.is_empty());

    // list: sorted child names, files and directories alike.
    s.put("a/b/a", Bytes::from_static(b"x")).await.unwrap();
    s.put("a/b/d/e", Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(s.list("a/b").await.unwrap(), vec!["a", "c", "d"]);
    assert!(matches!(
        s.list("nope").await,
        Err(StorageError::NotFound(_))
    ));

    // walk: every file below, at any depth, relative and sorted.
    assert_eq!(s.walk("a").await.unwrap(), vec!["b/a", "b/c", "b/d/e"]);
    assert_eq!(s.walk("a/b/d").await.unwrap(), vec!["e"]);
    // walk_after: a page of the same keys, strictly after a key that need not exist.
    assert_eq!(
        s.walk_after("a", "b/a", 5).await.unwrap(),
        vec!["b/c", "b/d/e"]
    );
    assert_eq!(s.walk_after("a", "b/b", 1).await.unwrap(), vec!["b/c"]);
    assert_eq!(s.walk_after("a", "", 2).await.unwrap(), vec!["b/a", "b/c"]);
    assert!(s.walk_after("a", "b/d/e", 5).await.unwrap().is_empty());
    assert!(s.walk_after("nope", "", 5).await.unwrap().is_empty());
    // scan: the files a pattern matches (`*` for any one name), with their sizes, the contents of
    // those a pattern reads, and only the keys of those it names.
    let pattern = |key, read| ScanPattern { key, read };
    let scanned = s
        .scan(
            "a",
            &[
                pattern("b/c", ScanRead::Content),
                pattern("b/*/e", ScanRead::Meta),
            ],
        )
        .await
        .unwrap();
    let keys: Vec<&str> = scanned.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, vec!["b/c", "b/d/e"]);
    let size = |f: &ScannedFile| f.meta.as_ref().map(|m| m.size);
    assert_eq!((size(&scanned[0]), size(&scanned[1])), (Some(5), Some(1)));
    assert_eq!(scanned[0].content.as_deref(), Some(&b"three"[..]));
    assert!(scanned[1].content.is_none());
    let named = s
        .scan(
            "a",
            &[
                pattern("*/*/e", ScanRead::Key),
                pattern("b/a", ScanRead::Key),
            ],
        )
        .await
        .unwrap();
    let keys: Vec<&str> = named.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, vec!["b/a", "b/d/e"]);
    assert!(named.iter().all(|f| f.content.is_none()));
    let every = s
        .scan("a", &[pattern("*/*", ScanRead::Meta)])
        .await
        .unwrap();
    let keys: Vec<&str> = every.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["b/a", "b/c"],
        "only files as deep as the pattern"
    );
    assert!(s
        .scan(
            "a",
            &[
                pattern("b/x/*", ScanRead::Content),
                pattern("b/c/*", ScanRead::Key)
            ]
        )
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .scan("nope", &[pattern("*", ScanRead::Content)])
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        s.walk("nope").await,
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
    assert_eq!(
        read_all(s, "up/data", 199_990, 20).await,
        &data[199_990..200_010]
    );
    assert_eq!(s.get("up/data").await.unwrap().len(), 300_000);
    assert_eq!(s.walk("up").await.unwrap(), vec!["data"]);
    assert_eq!(s.list("up").await.unwrap(), vec!["data"]);

    // An empty appended file exists once closed.
    s.appender("empty/data")
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    assert_eq!(s.stat("empty/data").await.unwrap().size, 0);
    s.commit("empty/data", "blobs/empty/data").await.unwrap();
    assert_eq!(s.get("blobs/empty/data").await.unwrap().len(), 0);

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
    // delete_present: files and trees in order, absent keys passed over.
    s.put("p/x/1", Bytes::from_static(b"x")).await.unwrap();
    s.put("p/y", Bytes::from_static(b"y")).await.unwrap();
    s.put("p/z", Bytes::from_static(b"z")).await.unwrap();
    s.delete_present(&["p/nope".to_string(), "p/x".to_string(), "p/y".to_string()])
        .await
        .unwrap();
    assert_eq!(s.walk("p").await.unwrap(), vec!["z"]);
    s.delete_present(&[]).await.unwrap();
    s.delete("p").await.unwrap();
    // Whatever a listing still names after a delete, the exact calls see nothing.
    assert!(matches!(s.walk("a").await, Err(StorageError::NotFound(_))));
    assert!(matches!(
        s.stat("a/b").await,
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

/// The settings of a fresh bucket on `server`, with the layout under a root directory as
/// distribution allows.
fn s3_config(server: &s3_servers::S3Server) -> S3Config {
    let bucket = format!("contract-{}", uuid::Uuid::new_v4().simple());
    server.create_bucket(&bucket);
    S3Config {
        accesskey: Some(s3_servers::ACCESS_KEY.into()),
        secretkey: Some(s3_servers::SECRET_KEY.into()),
        region: Some("us-east-1".into()),
        regionendpoint: Some(server.endpoint.clone()),
        bucket: Some(bucket),
        rootdirectory: Some("/registry".into()),
        chunksize: crate::config::s3::MIN_CHUNK_SIZE,
        ..S3Config::default()
    }
}

/// A backend on a fresh bucket of `server`.
fn s3_backend(server: &s3_servers::S3Server) -> S3 {
    S3::new(&s3_config(server)).expect("S3 client")
}

/// Uploads bigger than a part stream as multipart uploads, across several appender openings, and
/// commit assembles the chunks into one object.
async fn s3_multipart(s: &S3) {
    let part = crate::config::s3::MIN_CHUNK_SIZE as usize;
    let data: Vec<u8> = (0..part + part / 2 + 100)
        .map(|i| (i % 253) as u8)
        .collect();
    let mut w = s.appender("big/data").await.unwrap();
    for piece in data[..part + part / 2].chunks(1024 * 1024) {
        w.append(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    w.close().await.unwrap();
    let mut w = s.appender("big/data").await.unwrap();
    w.append(Bytes::copy_from_slice(&data[part + part / 2..]))
        .await
        .unwrap();
    w.close().await.unwrap();
    assert_eq!(s.stat("big/data").await.unwrap().size, data.len() as u64);
    s.commit("big/data", "blobs/big/data").await.unwrap();
    assert_eq!(
        read_all(s, "blobs/big/data", 0, data.len() as u64).await,
        data
    );
    assert!(matches!(
        s.walk("big").await,
        Err(StorageError::NotFound(_))
    ));
    let url = s
        .signed_url("blobs/big/data", std::time::Duration::from_secs(60))
        .await;
    assert!(url.unwrap().is_some_and(|u| u.contains("X-Amz-Signature")));
}

/// The S3 backend honours the storage contract on SeaweedFS, which lists stale prefixes after deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_contract_seaweedfs() {
    let server = s3_servers::S3Server::seaweedfs();
    let s3 = s3_backend(&server);
    s3.check().await.expect("bucket reachable");
    contract(&s3).await;
    s3_multipart(&s3).await;
}

/// The S3 backend honours the storage contract on moto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_contract_moto() {
    let server = s3_servers::S3Server::moto();
    let s3 = s3_backend(&server);
    contract(&s3).await;
    s3_multipart(&s3).await;
}

/// With `redirectendpoint`, presigned URLs name its host (here `localhost` for the engine's
/// `127.0.0.1`), keep the bucket in the path, and carry a signature the engine accepts at that host,
/// where it refuses a URL signed for the bucket's own host and re-hosted afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_redirect_endpoint_signs_for_its_host() {
    let server = s3_servers::S3Server::seaweedfs();
    let public = server.endpoint.replace("127.0.0.1", "localhost");
    let config = S3Config {
        redirectendpoint: Some(public.clone()),
        ..s3_config(&server)
    };
    let s3 = S3::new(&config).expect("S3 client");
    s3.put("blobs/x", Bytes::from_static(b"redirected"))
        .await
        .unwrap();
    let url = s3
        .signed_url("blobs/x", std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a presigned URL");
    let bucket = config.bucket.as_deref().unwrap_or_default();
    assert!(
        url.starts_with(&format!("{public}/{bucket}/registry/blobs/x?")),
        "{url}"
    );
    let answer = reqwest::get(&url).await.expect("GET the presigned URL");
    assert_eq!(answer.status(), 200, "{url}\n{}", server.logs());
    assert_eq!(answer.bytes().await.unwrap().as_ref(), b"redirected");
    let own_host = S3::new(&S3Config {
        redirectendpoint: None,
        ..config.clone()
    })
    .expect("S3 client");
    let rehosted = own_host
        .signed_url("blobs/x", std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a presigned URL")
        .replace(&server.endpoint, &public);
    let answer = reqwest::get(&rehosted)
        .await
        .expect("GET the re-hosted URL");
    assert_eq!(answer.status(), 403, "{rehosted}");
}

/// Start-up checks name the setting at fault: a missing bucket, refused credentials, no server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_check_names_the_setting() {
    let server = s3_servers::S3Server::seaweedfs();
    server.create_bucket("present");
    let base = S3Config {
        accesskey: Some(s3_servers::ACCESS_KEY.into()),
        secretkey: Some(s3_servers::SECRET_KEY.into()),
        regionendpoint: Some(server.endpoint.clone()),
        bucket: Some("present".into()),
        ..S3Config::default()
    };
    let setting = |config: S3Config| async move {
        S3::new(&config)
            .unwrap()
            .check()
            .await
            .err()
            .map(|e| e.setting)
    };
    assert_eq!(setting(base.clone()).await, None);
    let missing = S3Config {
        bucket: Some("absent".into()),
        ..base.clone()
    };
    assert_eq!(setting(missing).await, Some("storage.s3.bucket"));
    let wrong = S3Config {
        secretkey: Some("wrong".into()),
        ..base.clone()
    };
    assert_eq!(setting(wrong).await, Some("storage.s3.accesskey"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = S3Config {
        regionendpoint: Some(format!("http://127.0.0.1:{port}")),
        ..base
    };
    assert_eq!(
        setting(unreachable).await,
        Some("storage.s3.regionendpoint")
    );
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
