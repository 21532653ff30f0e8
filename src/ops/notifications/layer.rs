//! The middleware that turns what the API reports about a successful request into an event: it notes
//! the request's client address, host, method and user agent on the way in, and on the way out emits
//! the response's [`Outcome`], if any. It never waits for delivery.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;

use super::event::{Event, RequestRecord};
use super::Notifier;
use crate::api::endpoint::Endpoint;
use crate::api::events::{self, Outcome};

/// Emits an event for every successful request that pushed, pulled, mounted or deleted content.
pub async fn observe(
    State(notifier): State<Arc<Notifier>>,
    request: Request,
    next: Next,
) -> Response {
    let reports = request
        .extensions()
        .get::<Endpoint>()
        .is_some_and(events::may_report);
    if !reports {
        return next.run(request).await;
    }
    let headers = request.headers().clone();
    let record = RequestRecord {
        id: uuid::Uuid::new_v4().to_string(),
        addr: client_addr(&request),
        host: headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| request.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default(),
        method: request.method().to_string(),
        useragent: text(&headers, header::USER_AGENT.as_str()).unwrap_or_default(),
    };
    let mut response = next.run(request).await;
    if response.status().is_success() {
        if let Some(outcome) = response.extensions_mut().remove::<Outcome>() {
            let event = Event::new(outcome, record, notifier.source.clone(), |path| {
                notifier.urls.url(&headers, path)
            });
            notifier.emit(event);
        }
    }
    response
}

fn text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The client's address as distribution reports it: the first `X-Forwarded-For` address, else
/// `X-Real-Ip`, else the connection's peer (`ip:port`).
fn client_addr(request: &Request) -> String {
    let headers = request.headers();
    let is_ip = |s: &str| s.parse::<IpAddr>().is_ok();
    let forwarded = text(headers, "x-forwarded-for")
        .and_then(|v| v.split(',').next().map(|s| s.trim().to_string()))
        .filter(|s| is_ip(s));
    let real = text(headers, "x-real-ip").filter(|s| is_ip(s.trim()));
    forwarded.or(real).unwrap_or_else(|| {
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)], peer: Option<&str>) -> Request {
        let mut builder = Request::builder().uri("/v2/");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let mut request = builder.body(axum::body::Body::empty()).unwrap();
        if let Some(peer) = peer {
            let addr: SocketAddr = peer.parse().unwrap();
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        request
    }

    /// Proxy headers win over the peer address when they hold an IP address.
    #[test]
    fn client_addr_table() {
        let peer = Some("10.0.0.9:41000");
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[], "10.0.0.9:41000"),
            (
                &[("x-forwarded-for", "203.0.113.7, 10.0.0.1")],
                "203.0.113.7",
            ),
            (&[("x-real-ip", "203.0.113.8")], "203.0.113.8"),
            (&[("x-forwarded-for", "not-an-ip")], "10.0.0.9:41000"),
            (
                &[
                    ("x-forwarded-for", "2001:db8::1"),
                    ("x-real-ip", "203.0.113.8"),
                ],
                "2001:db8::1",
            ),
        ];
        for (headers, want) in cases {
            assert_eq!(client_addr(&request(headers, peer)), want, "{headers:?}");
        }
        assert_eq!(client_addr(&request(&[], None)), "");
    }
}
