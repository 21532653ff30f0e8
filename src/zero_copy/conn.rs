//! Plain TCP connections that send queued file ranges in place of placeholder bytes, and the acceptor
//! that makes them and hands each request its connection's queue.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tower_http::add_extension::AddExtension;

use super::{placeholder_offset, FileQueue};

/// A plain TCP connection with its queue of file ranges.
pub struct Conn {
    tcp: TcpStream,
    queue: FileQueue,
    /// Bytes sent with `sendfile`, for the listener's metric.
    sent: Counter,
}

impl Conn {
    /// Sends the file range queued for `len` placeholder bytes starting `at` in the region, as much as
    /// the socket takes now.
    fn send_file(&self, cx: &mut Context<'_>, at: usize, len: usize) -> Poll<io::Result<usize>> {
        let (file, offset) = self.queue.next(at, len)?;
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            match self.tcp.try_io(Interest::WRITABLE, || {
                sendfile(&self.tcp, &file, offset, len)
            }) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the blob's file ended before its size",
                    )))
                }
                Ok(n) => {
                    self.queue.sent(n);
                    self.sent.inc_by(n as u64);
                    return Poll::Ready(Ok(n));
                }
                // Not writable after all (readiness is cleared, so the next poll waits), or a signal
                // came first: try again.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn sendfile(
    socket: &TcpStream,
    file: &std::fs::File,
    mut offset: u64,
    len: usize,
) -> io::Result<usize> {
    Ok(rustix::fs::sendfile(socket, file, Some(&mut offset), len)?)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn sendfile(_: &TcpStream, _: &std::fs::File, _: u64, _: usize) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match placeholder_offset(buf) {
            Some(at) => this.send_file(cx, at, buf.len()),
            None => Pin::new(&mut this.tcp).poll_write(cx, buf),
        }
    }

    /// Writes the ordinary buffers up to the first placeholder with one `writev`, or, when the first
    /// buffer is a placeholder, its file range.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let bufs = match bufs.iter().position(|b| !b.is_empty()) {
            Some(first) => &bufs[first..],
            None => return Poll::Ready(Ok(0)),
        };
        if let Some(at) = placeholder_offset(&bufs[0]) {
            return this.send_file(cx, at, bufs[0].len());
        }
        let end = bufs
            .iter()
            .position(|b| placeholder_offset(b).is_some())
            .unwrap_or(bufs.len());
        Pin::new(&mut this.tcp).poll_write_vectored(cx, &bufs[..end])
    }

    /// Always, so that hyper queues body chunks as they are instead of copying them into one buffer.
    fn is_write_vectored(&self) -> bool {
        true
    }

    /// hyper flushes the connection only once it has written all it buffered, so by then every file
    /// range queued for a chunk it was handed has been sent. A range still queued means hyper wrote
    /// something else in its place: it copied the placeholder into its own buffer (zeros went out in
    /// place of the blob) instead of queueing the chunk. See the module's documentation. (This also
    /// relies on the body layers between [`super::FileBody`] and hyper handing each frame straight
    /// on, as they do: one holding a chunk back across a flush would trip it without harm.)
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        debug_assert!(
            this.queue.is_empty(),
            "hyper flushed a connection with file ranges unsent: it copied a placeholder chunk \
             instead of queueing it, so zero_copy no longer holds"
        );
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// Makes each accepted plain TCP connection a [`Conn`] with its own queue, and puts the queue in the
/// extensions of every request of the connection.
#[derive(Debug, Clone)]
pub struct Acceptor {
    sent: Counter,
}

impl Acceptor {
    /// An acceptor whose connections count the bytes they send with `sendfile` in `sent`.
    pub fn new(sent: Counter) -> Self {
        Acceptor { sent }
    }
}

impl<S> axum_server::accept::Accept<TcpStream, S> for Acceptor {
    type Stream = Conn;
    type Service = AddExtension<S, FileQueue>;
    type Future = std::future::Ready<io::Result<(Conn, AddExtension<S, FileQueue>)>>;

    fn accept(&self, tcp: TcpStream, service: S) -> Self::Future {
        let queue = FileQueue::default();
        let service = AddExtension::new(service, queue.clone());
        let conn = Conn {
            tcp,
            queue,
            sent: self.sent.clone(),
        };
        std::future::ready(Ok((conn, service)))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use bytes::{Buf, Bytes};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Writes every buffer the way hyper does: vectored writes of what is left, advancing by what each
    /// write reports. Returns the number of writes.
    async fn write_all_vectored(conn: &mut Conn, mut bufs: Vec<Bytes>) -> usize {
        let mut writes = 0;
        while bufs.iter().any(|b| !b.is_empty()) {
            writes += 1;
            let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
            let mut n = conn.write_vectored(&slices).await.unwrap();
            assert!(n > 0, "the connection took nothing");
            for buf in bufs.iter_mut() {
                let step = n.min(buf.len());
                buf.advance(step);
                n -= step;
            }
        }
        conn.shutdown().await.unwrap();
        writes
    }

    /// Ordinary bytes and placeholders mixed in the same vectored writes reach the peer in order, each
    /// placeholder replaced by its file range (and counted as sent with `sendfile`), even when the peer
    /// reads slowly and the socket takes each range in several partial writes.
    #[tokio::test]
    async fn placeholders_are_replaced_by_their_file_ranges() {
        let content: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&content).unwrap();
        let file = Arc::new(file);

        // Small socket buffers on both sides (accepted sockets inherit the listener's), so that
        // each write takes only part of a range.
        let server = tokio::net::TcpSocket::new_v4().unwrap();
        server.set_send_buffer_size(16 * 1024).unwrap();
        server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = server.listen(1).unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        let client = socket.connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let mut client = client.unwrap();
        let queue = FileQueue::default();
        let sent = Counter::default();
        let mut conn = Conn {
            tcp: accepted.unwrap().0,
            queue: queue.clone(),
            sent: sent.clone(),
        };

        let big = queue.push(file.clone(), 100, 2 * 1024 * 1024);
        let small = queue.push(file, 5, 1000);
        let bufs = vec![
            Bytes::from_static(b"head "),
            big,
            Bytes::from_static(b" middle "),
            small,
            Bytes::from_static(b" tail"),
        ];
        let writer = tokio::spawn(async move { write_all_vectored(&mut conn, bufs).await });
        let mut received = Vec::new();
        let mut piece = vec![0; 64 * 1024];
        loop {
            tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            match client.read(&mut piece).await.unwrap() {
                0 => break,
                n => received.extend_from_slice(&piece[..n]),
            }
        }
        let writes = writer.await.unwrap();
        assert!(
            writes > 10,
            "the socket took the ranges in {writes} writes, not in parts"
        );

        let mut expected = b"head ".to_vec();
        expected.extend_from_slice(&content[100..100 + 2 * 1024 * 1024]);
        expected.extend_from_slice(b" middle ");
        expected.extend_from_slice(&content[5..1005]);
        expected.extend_from_slice(b" tail");
        assert_eq!(received.len(), expected.len());
        assert!(received == expected, "the bytes received differ");
        assert!(queue.next(0, 1).is_err(), "every queued range was sent");
        assert_eq!(
            sent.get(),
            2 * 1024 * 1024 + 1000,
            "the ranges' bytes are counted as sent with sendfile"
        );
    }

    /// If hyper flushed a connection while a file range it was handed is unsent (as it would after
    /// copying the placeholder chunk instead of queueing it), debug builds fail loudly.
    #[cfg(debug_assertions)]
    #[tokio::test]
    #[should_panic(expected = "hyper flushed a connection with file ranges unsent")]
    async fn a_flush_with_a_range_unsent_fails_the_assertion() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (_client, accepted) = tokio::join!(client, listener.accept());
        let queue = FileQueue::default();
        let mut conn = Conn {
            tcp: accepted.unwrap().0,
            queue: queue.clone(),
            sent: Counter::default(),
        };
        let chunk = queue.push(Arc::new(tempfile::tempfile().unwrap()), 0, 100);
        // What hyper's copying strategy would write: the chunk's bytes from a buffer of its own.
        let copied = Vec::from(&chunk[..]);
        conn.write_all(&copied).await.unwrap();
        conn.flush().await.unwrap();
    }
}
