//! The stylesheet and the optional script, compiled into the binary (no build step), served with an
//! ETag so browsers revalidate cheaply.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 2] = [
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("assets/style.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/app.js"),
    },
];

fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    &TAGS.get_or_init(|| {
        use sha2::Digest;
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &hex::encode(sha2::Sha256::digest(a.body))[..16]))
            .collect()
    })[index]
}

/// `GET /assets/<file>`.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let tag = etag(index);
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let etag_header = (header::ETAG, HeaderValue::from_static(tag));
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [cache, etag_header]).into_response();
    }
    let asset = &ASSETS[index];
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            cache,
            etag_header,
        ],
        asset.body,
    )
        .into_response()
}
