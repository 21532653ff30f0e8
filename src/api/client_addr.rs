//! The client's address, worked out once per request: the connection's peer, unless the peer is one
//! of `http.trustedproxies`; then the rightmost address of `Forwarded: for=` (RFC 7239) or, without
//! that header, of `X-Forwarded-For`, that is not itself a trusted proxy. Headers from any other peer
//! are ignored, so a client cannot choose the address it is throttled or logged under. The address
//! goes into the request's extensions ([`ClientAddr`]) and into the access log's `client` field.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The client's address, in a request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The reverse proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Proxies in these ranges.
    pub fn new(ranges: Vec<IpNet>) -> Self {
        TrustedProxies(ranges)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the request's `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers).or_else(|| x_forwarded_for(headers));
        let Some(hops) = hops else {
            return peer;
        };
        // From the nearest hop back: the first that is not a trusted proxy is the client. A hop that
        // is not an address (`unknown`, an obfuscated name) ends the chain: the proxy after it is
        // as far as anything can be believed.
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => client = *ip,
                Some(ip) => return *ip,
                None => return client,
            }
        }
        client
    }
}

/// The `for=` of every `Forwarded` element, in order; `None` without the header or when it does not
/// parse (then `X-Forwarded-For` is read instead).
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all(axum::http::header::FORWARDED) {
        for element in rfc7239::parse(value.to_str().ok()?) {
            let element = element.ok()?;
            hops.push(element.forwarded_for.and_then(|node| node.ip().copied()));
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// Every `X-Forwarded-For` address, in order; `None` without the header.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let value = value.to_str().unwrap_or_default();
        hops.extend(
            value
                .split(',')
                .map(|hop| hop.trim().parse::<IpAddr>().ok()),
        );
    }
    (!hops.is_empty()).then_some(hops)
}

/// Middleware: stores the request's [`ClientAddr`] and records it in the access log's span.
pub async fn resolve(
    State(proxies): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
            c.0.ip().to_canonical()
        });
    let client = proxies.client(peer, request.headers());
    tracing::Span::current().record("client", tracing::field::display(client));
    request.extensions_mut().insert(ClientAddr(client));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Forwarding headers count only from a trusted peer; the rightmost untrusted hop is the client;
    /// `Forwarded` wins over `X-Forwarded-For`; garbage ends the chain at the last trusted hop.
    #[test]
    fn the_client_behind_trusted_proxies() {
        let proxies = TrustedProxies::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap(),
        ]);
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (
                "203.0.113.5",
                &[("x-forwarded-for", "1.2.3.4")],
                "203.0.113.5",
            ),
            ("10.0.0.2", &[], "10.0.0.2"),
            ("10.0.0.2", &[("x-forwarded-for", "1.2.3.4")], "1.2.3.4"),
            (
                "10.0.0.2",
                &[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.9")],
                "198.51.100.7",
            ),
            (
                "10.0.0.2",
                &[
                    ("x-forwarded-for", "6.6.6.6"),
                    ("x-forwarded-for", "198.51.100.7"),
                ],
                "198.51.100.7",
            ),
            (
                "10.0.0.2",
                &[("x-forwarded-for", "10.0.0.7, 10.0.0.9")],
                "10.0.0.7",
            ),
            (
                "10.0.0.2",
                &[("x-forwarded-for", "garbage, 10.0.0.9")],
                "10.0.0.9",
            ),
            (
                "10.0.0.2",
                &[
                    (
                        "forwarded",
                        "for=192.0.2.60;proto=https, for=\"[2001:db8::17]:4711\"",
                    ),
                    ("x-forwarded-for", "6.6.6.6"),
                ],
                "2001:db8::17",
            ),
            (
                "::ffff:127.0.0.1",
                &[("x-forwarded-for", "192.0.2.1")],
                "192.0.2.1",
            ),
        ];
        for (peer, pairs, want) in cases {
            let peer = ip(peer).to_canonical();
            assert_eq!(
                proxies.client(peer, &headers(pairs)),
                ip(want),
                "{peer} {pairs:?}"
            );
        }
        let nobody = TrustedProxies::default();
        assert_eq!(
            nobody.client(ip("127.0.0.1"), &headers(&[("x-forwarded-for", "1.2.3.4")])),
            ip("127.0.0.1")
        );
    }
}
