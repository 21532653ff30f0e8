//! htpasswd authentication through a real server configured with `REGISTRY_AUTH_*` variables:
//! challenges, push and pull with Basic credentials, wrong credentials, hot reload, anonymous read,
//! access rules, throttling and refused hash formats.

mod auth_support;
mod common;

use std::process::Command;
use std::time::Duration;

use auth_support::{get_status, push_image, request, start, users_dir, write_users, REALM};
use reqwest::Method;

const ALICE: (&str, &str) = ("alice", "alice-password");
const BOB: (&str, &str) = ("bob", "bob-password");

/// Without credentials every `/v2` endpoint answers 401 with the Basic challenge and an OCI
/// `UNAUTHORIZED` body, invalid paths included; `GET /` stays open for load balancers.
#[tokio::test]
async fn missing_credentials_get_the_challenge() {
    let (_dir, path) = users_dir(&[ALICE]);
    let server = start(&path, &[]).await;
    for path in [
        "/v2/",
        "/v2/_catalog",
        "/v2/a/b/tags/list",
        "/v2/a/manifests/latest",
        "/v2/a/not-an-endpoint",
    ] {
        let r = request(&server, Method::GET, path, None)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(
            r.headers()["www-authenticate"],
            format!("Basic realm=\"{REALM}\"").as_str(),
            "{path}"
        );
        assert_eq!(common::error_code(r).await, "UNAUTHORIZED", "{path}");
    }
    assert_eq!(get_status(&server, "/", None).await, 200);
    server.stop().await;
}

/// The right user and password push an image and pull it back over the raw API.
#[tokio::test]
async fn correct_credentials_push_and_pull() {
    let (_dir, path) = users_dir(&[ALICE]);
    let server = start(&path, &[]).await;
    assert_eq!(get_status(&server, "/v2/", Some(ALICE)).await, 200);
    assert_eq!(
        push_image(&server, "team/app", "v1", Some(ALICE)).await,
        201
    );
    let r = request(
        &server,
        Method::GET,
        "/v2/team/app/manifests/v1",
        Some(ALICE),
    )
    .header("accept", "application/vnd.oci.image.manifest.v1+json")
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        get_status(&server, "/v2/team/app/tags/list", Some(ALICE)).await,
        200
    );
    assert_eq!(get_status(&server, "/v2/_catalog", Some(ALICE)).await, 200);
    server.stop().await;
}

/// A wrong password, an unknown user and a non-Basic scheme all get 401 with the challenge.
#[tokio::test]
async fn wrong_credentials_are_refused() {
    let (_dir, path) = users_dir(&[ALICE]);
    let server = start(&path, &[]).await;
    for creds in [("alice", "wrong"), ("mallory", "alice-password"), ("", "")] {
        let r = request(&server, Method::GET, "/v2/", Some(creds))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{creds:?}");
        assert!(r.headers().contains_key("www-authenticate"));
        assert_eq!(common::error_code(r).await, "UNAUTHORIZED");
    }
    let r = request(&server, Method::GET, "/v2/", None)
        .bearer_auth("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    server.stop().await;
}

/// Rewriting the file takes effect without restart: an added user gets in, a removed user and a
/// changed password (already verified, so cached) stop working.
#[tokio::test]
async fn file_changes_apply_without_restart() {
    let (_dir, path) = users_dir(&[ALICE]);
    let server = start(&path, &[]).await;
    assert_eq!(get_status(&server, "/v2/", Some(ALICE)).await, 200);
    assert_eq!(get_status(&server, "/v2/", Some(BOB)).await, 401);

    write_users(&path, &[ALICE, BOB]);
    let bob_in = auth_support::eventually(Duration::from_secs(5), || async {
        get_status(&server, "/v2/", Some(BOB)).await == 200
    })
    .await;
    assert!(bob_in, "an added user works without restart");

    write_users(&path, &[BOB, ("alice", "new-password")]);
    let old_out = auth_support::eventually(Duration::from_secs(5), || async {
        get_status(&server, "/v2/", Some(ALICE)).await == 401
    })
    .await;
    assert!(
        old_out,
        "a changed password stops working (cache invalidated)"
    );
    assert_eq!(
        get_status(&server, "/v2/", Some(("alice", "new-password"))).await,
        200
    );

    write_users(&path, &[("alice", "new-password")]);
    let bob_out = auth_support::eventually(Duration::from_secs(5), || async {
        get_status(&server, "/v2/", Some(BOB)).await == 401
    })
    .await;
    assert!(bob_out, "a removed user stops working");
    server.stop().await;
}

/// With `REGISTRY_AUTH_HTPASSWD_ANONYMOUSREAD=true` anyone pulls and lists, pushing and deleting
/// ask for credentials (401 + challenge), users push, and wrong credentials are still refused.
#[tokio::test]
async fn anonymous_read_authenticated_write() {
    let (_dir, path) = users_dir(&[ALICE]);
    let server = start(&path, &[("REGISTRY_AUTH_HTPASSWD_ANONYMOUSREAD", "true")]).await;
    assert_eq!(push_image(&server, "pub/app", "v1", None).await, 401);
    assert_eq!(push_image(&server, "pub/app", "v1", Some(ALICE)).await, 201);
    for path in [
        "/v2/",
        "/v2/_catalog",
        "/v2/pub/app/tags/list",
        "/v2/pub/app/manifests/v1",
    ] {
        assert_eq!(get_status(&server, path, None).await, 200, "{path}");
    }
    let r = request(&server, Method::DELETE, "/v2/pub/app/manifests/v1", None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(
        get_status(&server, "/v2/pub/app/tags/list", Some(("alice", "wrong"))).await,
        401
    );
    server.stop().await;
}

/// Access rules from one `REGISTRY_AUTH_ACCESS` variable: alice pulls `team/*` but may not push
/// (403 `DENIED`, not 401), bob pushes there; neither reaches other repositories or the catalog.
#[tokio::test]
async fn access_rules_per_user_and_repository() {
    let (_dir, path) = users_dir(&[ALICE, BOB]);
    let rules = r#"[{users: [alice], repositories: ["team/*"], actions: [pull]},
                    {users: [bob], repositories: ["team/*"], actions: [push]}]"#;
    let server = start(&path, &[("REGISTRY_AUTH_ACCESS", rules)]).await;

    assert_eq!(push_image(&server, "team/app", "v1", Some(BOB)).await, 201);
    assert_eq!(
        get_status(&server, "/v2/team/app/manifests/v1", Some(ALICE)).await,
        200
    );
    let r = request(
        &server,
        Method::POST,
        "/v2/team/app/blobs/uploads/",
        Some(ALICE),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!r.headers().contains_key("www-authenticate"));
    assert_eq!(common::error_code(r).await, "DENIED");
    assert_eq!(push_image(&server, "other/app", "v1", Some(BOB)).await, 403);
    assert_eq!(
        get_status(&server, "/v2/other/app/tags/list", Some(ALICE)).await,
        403
    );
    assert_eq!(get_status(&server, "/v2/_catalog", Some(ALICE)).await, 403);
    assert_eq!(get_status(&server, "/v2/", Some(ALICE)).await, 200);
    assert_eq!(
        get_status(&server, "/v2/team/app/manifests/v1", None).await,
        401
    );
    server.stop().await;
}

/// A cross-repository mount from a repository the user may not pull becomes a plain upload session
/// (202) instead of linking the blob (201).
#[tokio::test]
async fn mount_needs_pull_on_the_source() {
    let (_dir, path) = users_dir(&[ALICE, BOB]);
    let rules = r#"[{users: [alice], repositories: ["secret/*"], actions: [push]},
                    {users: [bob], repositories: ["bob/*"], actions: [push]}]"#;
    let server = start(&path, &[("REGISTRY_AUTH_ACCESS", rules)]).await;
    let blob = b"secret layer";
    let digest = common::sha256(blob);
    let r = request(
        &server,
        Method::POST,
        &format!("/v2/secret/app/blobs/uploads/?digest={digest}"),
        Some(ALICE),
    )
    .body(blob.to_vec())
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let mount = format!("/v2/bob/app/blobs/uploads/?mount={digest}&from=secret/app");
    let r = request(&server, Method::POST, &mount, Some(BOB))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "mount refused, upload session opened");
    assert_eq!(
        get_status(&server, &format!("/v2/bob/app/blobs/{digest}"), Some(BOB)).await,
        404
    );
    let r = request(
        &server,
        Method::POST,
        &mount.replace("bob/app", "secret/b"),
        Some(ALICE),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201, "mount from a pullable repository");
    server.stop().await;
}

/// After 10 failed logins from one address, even correct credentials get 429 `TOOMANYREQUESTS`
/// with `Retry-After`; requests without credentials are not throttled.
#[tokio::test]
async fn failed_logins_are_throttled() {
    let (_dir, path) = users_dir(&[ALICE]);
    let server = start(&path, &[("REGISTRY_AUTH_HTPASSWD_ANONYMOUSREAD", "true")]).await;
    for i in 0..10 {
        let status = get_status(&server, "/v2/", Some(("alice", "guess"))).await;
        assert_eq!(status, 401, "attempt {i}");
    }
    let r = request(&server, Method::GET, "/v2/", Some(ALICE))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(common::error_code(r).await, "TOOMANYREQUESTS");
    assert_eq!(get_status(&server, "/v2/", None).await, 200);
    server.stop().await;
}

/// Lines written by Apache's `htpasswd -nbB` log in; the same user with an MD5 (`-m`) or SHA
/// (`-s`) line is refused, since only bcrypt is accepted.
#[tokio::test]
async fn apache_bcrypt_accepted_other_hashes_refused() {
    let apache = |flag: &str, user: &str| {
        let out = Command::new("htpasswd")
            .args([flag, user, "pw"])
            .output()
            .expect("Apache htpasswd (apache2-utils; ./scripts/test installs it)");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    let lines = [
        apache("-nbB", "bcrypt"),
        apache("-nbm", "md5"),
        apache("-nbs", "sha"),
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let server = start(&path, &[]).await;
    assert_eq!(
        get_status(&server, "/v2/", Some(("bcrypt", "pw"))).await,
        200
    );
    assert_eq!(get_status(&server, "/v2/", Some(("md5", "pw"))).await, 401);
    assert_eq!(get_status(&server, "/v2/", Some(("sha", "pw"))).await, 401);
    server.stop().await;
}

/// A missing htpasswd file is created at start-up in its existing directory: file 0600, holding
/// user `docker` with a bcrypt hash.
#[cfg(unix)]
#[tokio::test]
async fn missing_file_is_provisioned() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("auth")).unwrap();
    let path = dir.path().join("auth/htpasswd");
    let server = start(&path, &[]).await;
    // The server builds its app (and the file) before it answers.
    assert_eq!(get_status(&server, "/v2/", None).await, 401);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("docker:$2y$10$"), "{text}");
    server.stop().await;
}
