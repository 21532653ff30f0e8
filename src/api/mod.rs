//! The HTTP surface: one axum fallback handler reads the request's [`endpoint::Endpoint`] (parsed
//! once by [`endpoint::classify`]), has the request authorized (`auth`) and dispatches on it.
//! Handlers translate HTTP to registry calls and back; they never build storage paths. Successful pushes, pulls, mounts and deletes are recorded
//! in the response ([`events`]) for layers outside the API to report.

mod auth;
mod blobs;
pub mod client_addr;
pub mod endpoint;
mod error;
pub mod events;
mod headers;
mod listing;
mod manifests;
pub mod protocol;
pub mod route;
mod urls;
mod wharf;

use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::TryStreamExt;
use tower_http::set_header::SetResponseHeaderLayer;

pub use blobs::parse_content_range;
use endpoint::Endpoint;
pub use error::{ApiError, Code};
pub use headers::{split_cors, ExtraHeaders};
pub use urls::UrlBuilder;

use crate::auth::Principal;
use crate::registry::Registry;
use crate::storage::ByteStream;
use crate::zero_copy::FileQueue;

/// `Docker-Content-Digest`.
pub(crate) const CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
/// `Docker-Upload-UUID`.
pub(crate) const UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
/// `OCI-Subject`.
pub(crate) const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
/// `OCI-Filters-Applied`.
pub(crate) const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

/// The connection's queue for sending files without copying them, when the connection has one and the
/// request is HTTP/1 (HTTP/2 frames the data itself).
fn zero_copy_queue(request: &Request) -> Option<FileQueue> {
    if !crate::zero_copy::SUPPORTED || request.version() > axum::http::Version::HTTP_11 {
        return None;
    }
    request.extensions().get::<FileQueue>().cloned()
}

/// What every handler shares.
pub struct AppState {
    /// The registry services (shared with the tasks a pull-through cache starts).
    pub registry: Arc<Registry>,
    /// How to build absolute URLs.
    pub urls: UrlBuilder,
    /// Authentication and access policy; `None` when authentication is off.
    pub auth: Option<crate::auth::Authenticator>,
    /// The retention run `/v2/_wharf/retention` previews and applies (the policies, the collection's
    /// grace period); `None` when no policy is configured.
    pub retention: Option<crate::registry::gc::GcOptions>,
}

/// Cross-cutting HTTP behaviour configured by `http:`.
#[derive(Default)]
pub struct HttpOptions {
    /// Headers for `/v2/` responses.
    pub extra: ExtraHeaders,
    /// CORS policy, when `Access-Control-*` headers are configured.
    pub cors: Option<tower_http::cors::CorsLayer>,
}

/// Result of a handler.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// The router for the whole HTTP API. Layers, outermost first: CORS, configured headers, API version.
pub fn router(state: Arc<AppState>, options: HttpOptions) -> Router {
    let router = Router::new()
        .fallback(dispatch)
        .with_state(state)
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("docker-distribution-api-version"),
            HeaderValue::from_static("registry/2.0"),
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(options.extra),
            headers::add_headers,
        ));
    match options.cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

async fn dispatch(State(app): State<Arc<AppState>>, mut request: Request) -> Response {
    let Some(endpoint) = request.extensions().get::<Endpoint>().cloned() else {
        tracing::error!(
            "a request reached the API without its endpoint: endpoint::classify is not installed"
        );
        return ApiError::new(Code::Unknown, "internal error").into_response();
    };
    // `/` answers load balancers, whoever asks.
    if endpoint != Endpoint::Root {
        if let Err(e) = auth::authorize(&app, &endpoint, &mut request).await {
            return e.into_response();
        }
    }
    let actor = match request.extensions().get::<Principal>() {
        None | Some(Principal::Anonymous) => None,
        Some(principal) => Some(principal.name().to_string()),
    };
    match handle(&app, endpoint, request).await {
        Ok(mut response) => {
            if let Some(outcome) = response.extensions_mut().get_mut::<events::Outcome>() {
                outcome.actor = actor;
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn handle(app: &AppState, endpoint: Endpoint, request: Request) -> ApiResult {
    use Endpoint as E;
    let writes = matches!(
        endpoint.access(),
        Some(endpoint::Access::Write | endpoint::Access::Delete)
    );
    if writes && app.registry.mirrors(endpoint.repository()) {
        // As registry:2 answers pushes and deletes to a pull-through cache.
        return Err(ApiError::new(
            Code::Unsupported,
            "this repository is a pull-through cache: pushes and deletes are unsupported",
        ));
    }
    match endpoint {
        E::Root => Ok(StatusCode::OK.into_response()),
        E::ApiVersion => Ok(axum::Json(serde_json::json!({})).into_response()),
        E::ListRepositories => listing::catalog(app, request.uri()).await,
        E::ListTags(name) => listing::tags(app, &name, request.uri()).await,
        E::ListReferrers(name, digest) => {
            listing::referrers(app, &name, &digest, request.uri()).await
        }
        E::GetManifest(name, r) => manifests::get(app, &name, &r, request.headers(), false).await,
        E::HeadManifest(name, r) => manifests::get(app, &name, &r, request.headers(), true).await,
        E::PutManifest(name, r) => manifests::put(app, &name, &r, request).await,
        E::DeleteManifest(name, r) => manifests::delete(app, &name, &r, request.headers()).await,
        E::GetBlob(name, d) => {
            let zero_copy = zero_copy_queue(&request);
            blobs::get(app, &name, &d, request.headers(), false, zero_copy).await
        }
        E::HeadBlob(name, d) => blobs::get(app, &name, &d, request.headers(), true, None).await,
        E::DeleteBlob(name, d) => blobs::delete(app, &name, &d).await,
        E::StartUpload(name) => blobs::start_upload(app, &name, request).await,
        E::GetUpload(name, id) => blobs::upload_status(app, &name, id, request.headers()).await,
        E::PatchUpload(name, id) => blobs::patch_upload(app, &name, id, request).await,
        E::PutUpload(name, id) => blobs::finish_upload(app, &name, id, request).await,
        E::CancelUpload(name, id) => blobs::cancel_upload(app, &name, id).await,
        E::MarkedCatalog => wharf::catalog(app).await,
        E::DiskUsage => wharf::usage(app).await,
        E::PreviewRetention => wharf::preview_retention(app).await,
        E::ApplyRetention => wharf::apply_retention(app, request.into_body()).await,
        E::ListTrash => wharf::trash(app).await,
        E::RestoreTag => wharf::restore(app, request.into_body()).await,
        E::TagTimes(name) => wharf::tag_times(app, &name).await,
        E::MethodNotAllowed(_) => Err(ApiError::new(
            Code::Unsupported,
            format!("method {} is not allowed here", request.method()),
        )),
        E::Invalid(e) => Err(ApiError::from(e)),
        E::Outside => Err(ApiError::new(
            Code::NotFound,
            format!("the API is served under {}/v2/", app.urls.prefix),
        )),
    }
}

/// A request body as a stream of bytes for the registry layer.
pub(crate) fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(io::Error::other))
}

/// The request's query string as `T`; a malformed one is a 400 with the OCI `code` given.
pub(crate) fn query<T: serde::de::DeserializeOwned>(uri: &Uri, code: Code) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| {
            ApiError::new(code, format!("invalid query string: {e}"))
                .with_status(StatusCode::BAD_REQUEST)
        })
}

/// The value of a header as text, if present and valid.
pub(crate) fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Builds a response with a status and headers; header values that are not valid are skipped.
pub(crate) fn respond(
    status: StatusCode,
    headers: &[(HeaderName, String)],
    body: Body,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            response.headers_mut().append(name.clone(), v);
        }
    }
    response
}
