//! Smoke test of the harness itself.
mod common;

/// The server answers `/v2/` with `{}` and the API version header, and `/` with 200.
#[tokio::test]
async fn base_endpoint() {
    let server = common::TestServer::start().await;
    let r = common::http()
        .get(format!("{}/v2/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    assert_eq!(r.text().await.unwrap(), "{}");
    let r = common::http()
        .get(format!("{}/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.stop().await;
}
