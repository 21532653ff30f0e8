//! Opening listening sockets, before the async runtime starts (so that a process started as root binds
//! a port below 1024 and then gives root up). The unspecified IPv6 address (`[::]`, what `:5000`
//! means) is opened dual-stack, so it accepts IPv4 too, as Go's listeners do for registry:2; where the
//! kernel has no IPv6, it falls back to every IPv4 interface.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel queues before they are accepted (tokio's default).
const BACKLOG: i32 = 1024;

/// A listening socket on `addr`, non-blocking, ready for the async runtime.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let dual_stack = addr.is_ipv6() && addr.ip().is_unspecified();
    match open(addr, dual_stack) {
        Err(e) if dual_stack && ipv6_unavailable(&e) => {
            tracing::info!("IPv6 is not available here: listening on IPv4 only");
            open(
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, addr.port())),
                false,
            )
        }
        other => other,
    }
}

fn open(addr: SocketAddr, dual_stack: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Whether `e` says the kernel has no IPv6 (disabled, or no IPv6 address to bind).
fn ipv6_unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
}

/// The one-line error for a listen address that cannot be opened, saying what to do about it.
pub fn bind_error(addr: SocketAddr, setting: &str, e: &io::Error) -> String {
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
            ": ports below 1024 need root or CAP_NET_BIND_SERVICE: listen on a port of 1024 or above \
             (publish it on the low port instead, e.g. `docker run -p 443:5000`), or start Wharf's \
             image as root, its default, which opens the port before it runs as the service user"
                .to_string()
        }
        io::ErrorKind::AddrInUse => format!(
            ": another process listens on port {}; stop it or choose another port",
            addr.port()
        ),
        _ => String::new(),
    };
    format!("cannot listen on {addr} ({setting}): {e}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[::]` accepts both IPv6 and IPv4 clients; a specific address only its own family.
    #[test]
    fn unspecified_ipv6_is_dual_stack() {
        let listener = bind("[::]:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("IPv4 client");
        if listener.local_addr().unwrap().is_ipv6() {
            std::net::TcpStream::connect(("::1", port)).expect("IPv6 client");
        }
        let v4 = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(v4.local_addr().unwrap().is_ipv4());
    }
}
