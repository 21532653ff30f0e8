//! Zero-copy blob downloads on plain HTTP/1 connections: a blob's bytes go from the page cache to the
//! socket with `sendfile(2)` and never pass through the registry's memory, as nginx serves files with
//! `sendfile on`.
//!
//! hyper writes every byte of a response itself, so the file cannot be handed to it directly. Instead:
//! - a blob's body ([`FileBody`]) yields placeholder chunks: slices of one static region,
//!   [`PLACEHOLDER`], never read by anyone, and queues the file range each chunk stands for in its
//!   connection's [`FileQueue`];
//! - the connection ([`Conn`]) recognises writes of placeholder bytes by their address and sends the
//!   queued file range in their place, reporting to hyper the count it sent, so hyper's framing and
//!   bookkeeping stay exact.
//!
//! HTTP/1 writes a connection's body bytes in order, so the queue's front is always the range being
//! written; [`FileQueue::next`] checks that the write continues it exactly where the last one stopped,
//! and anything else fails the connection rather than send the wrong bytes. HTTP/2 frames the data
//! itself (it would copy the placeholder), and TLS encrypts it, so both are served by reading
//! instead: only plain connections accepted through [`Acceptor`] carry a queue, and only HTTP/1
//! requests use it.
//!
//! This relies on how hyper (1.x, through `hyper-util`'s connection builder; see `Cargo.toml`) writes
//! HTTP/1 bodies: when the connection reports `is_write_vectored`, as [`Conn`] always does, hyper
//! keeps each body chunk as the `Bytes` it was handed and writes it with the headers in one vectored
//! write, so the placeholder's address reaches the connection. Were hyper to copy chunks into its own
//! buffer instead (its "flatten" strategy, used for connections without vectored writes or with
//! `writev(false)`), the connection would see ordinary zero bytes and send them as the blob. Debug
//! builds check for that: hyper flushes a connection only after writing everything it buffered, so
//! [`Conn`] asserts at every flush that no queued range is left unsent. The tests also count the bytes
//! sent with `sendfile` (`wharf_zero_copy_bytes_total`), which a fall-back to copying would not grow.
//!
//! `sendfile` runs on the async worker. When the file's pages are not in the page cache it waits for
//! the disk there, so the body asks the kernel to read each chunk ahead while the previous one is sent.

mod body;
mod conn;

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

pub use body::FileBody;
pub use conn::{Acceptor, Conn};

/// Whether this platform can send files to sockets directly.
pub const SUPPORTED: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// The most bytes one placeholder chunk stands for.
const CHUNK: usize = 4 * 1024 * 1024;

/// The bytes placeholder chunks point into, allocated zeroed on first use (the allocator maps fresh
/// zero pages for a region this size). It is never read, since a write of it is replaced by the file,
/// so it costs no resident memory; nor does it cost binary size, as a static array would.
static PLACEHOLDER: OnceLock<Box<[u8]>> = OnceLock::new();

fn region() -> &'static [u8] {
    PLACEHOLDER.get_or_init(|| vec![0; CHUNK].into_boxed_slice())
}

/// A placeholder chunk of `len` bytes (at most [`CHUNK`]).
fn placeholder(len: usize) -> Bytes {
    Bytes::from_static(&region()[..len])
}

/// Where `buf` starts in the placeholder region, when it is placeholder bytes.
fn placeholder_offset(buf: &[u8]) -> Option<usize> {
    let start = region().as_ptr() as usize;
    let at = (buf.as_ptr() as usize).wrapping_sub(start);
    (!buf.is_empty() && at < CHUNK).then_some(at)
}

/// A file range queued for a placeholder chunk.
struct Segment {
    file: Arc<std::fs::File>,
    offset: u64,
    len: usize,
    /// Bytes of the range already sent.
    sent: usize,
}

/// One connection's file ranges queued for sending, in the order hyper writes their placeholders.
#[derive(Clone, Default)]
pub struct FileQueue(Arc<Mutex<VecDeque<Segment>>>);

impl FileQueue {
    fn segments(&self) -> std::sync::MutexGuard<'_, VecDeque<Segment>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `len` bytes of `file` from `offset` and returns the placeholder chunk that stands for them.
    fn push(&self, file: Arc<std::fs::File>, offset: u64, len: usize) -> Bytes {
        self.segments().push_back(Segment {
            file,
            offset,
            len,
            sent: 0,
        });
        placeholder(len)
    }

    /// The file and offset to send for a write of `len` placeholder bytes starting `at` in the region:
    /// it must continue the front range exactly where its last write stopped.
    fn next(&self, at: usize, len: usize) -> io::Result<(Arc<std::fs::File>, u64)> {
        let segments = self.segments();
        match segments.front() {
            Some(front) if front.sent == at && at + len <= front.len => {
                Ok((front.file.clone(), front.offset + at as u64))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a write of file placeholder bytes does not match the queued file range",
            )),
        }
    }

    /// Whether every queued range has been sent.
    fn is_empty(&self) -> bool {
        self.segments().is_empty()
    }

    /// Records `n` more bytes of the front range sent, dropping the range once it is complete.
    fn sent(&self, n: usize) {
        let mut segments = self.segments();
        if let Some(front) = segments.front_mut() {
            front.sent += n;
            if front.sent >= front.len {
                segments.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Arc<std::fs::File> {
        Arc::new(tempfile::tempfile().unwrap())
    }

    /// Placeholder chunks are recognised by address, whatever their length or how far they were
    /// advanced, and equal bytes elsewhere are not.
    #[test]
    fn placeholders_are_recognised_by_address() {
        let chunk = placeholder(100);
        assert_eq!(placeholder_offset(&chunk), Some(0));
        assert_eq!(placeholder_offset(&chunk[40..]), Some(40));
        assert_eq!(placeholder_offset(&region()[CHUNK - 1..]), Some(CHUNK - 1));
        assert_eq!(placeholder_offset(&chunk[..0]), None);
        assert_eq!(placeholder_offset(&[0u8; 100]), None);
    }

    /// Writes must continue the front range where the last one stopped; the range is dropped once
    /// complete and the next one starts at the beginning of the region.
    #[test]
    fn the_queue_follows_writes_in_order() {
        let queue = FileQueue::default();
        queue.push(file(), 1000, 300);
        queue.push(file(), 5000, 200);
        assert_eq!(queue.next(0, 300).unwrap().1, 1000);
        assert!(queue.next(10, 290).is_err(), "skipping bytes is refused");
        queue.sent(120);
        assert!(queue.next(0, 300).is_err(), "repeating bytes is refused");
        assert_eq!(queue.next(120, 180).unwrap().1, 1120);
        assert!(
            queue.next(120, 181).is_err(),
            "overrunning the range is refused"
        );
        queue.sent(180);
        assert_eq!(queue.next(0, 200).unwrap().1, 5000);
        queue.sent(200);
        assert!(queue.next(0, 1).is_err(), "an empty queue sends nothing");
    }
}
