//! The body of a blob download sent from its file: placeholder chunks, each queued with the file range
//! it stands for. hyper must write each chunk as handed over, never copy it: see the parent module.

use std::future::Future;
use std::io;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

use super::{FileQueue, CHUNK};

/// `len` bytes of a file from `offset`, sent by the connection straight from the page cache.
pub struct FileBody {
    queue: FileQueue,
    file: Arc<std::fs::File>,
    offset: u64,
    left: u64,
    /// Asking the kernel to read the next chunk ahead, so that sending it finds it in the page cache
    /// instead of waiting for the disk on an async worker thread.
    read_ahead: Option<JoinHandle<()>>,
}

impl FileBody {
    /// Sends `len` bytes of `file` from `offset` through the connection's `queue`.
    pub fn new(queue: FileQueue, file: std::fs::File, offset: u64, len: u64) -> Self {
        let file = Arc::new(file);
        FileBody {
            read_ahead: Some(read_ahead(&file, offset, len)),
            queue,
            file,
            offset,
            left: len,
        }
    }
}

/// Starts reading the range's first chunk into the page cache (`POSIX_FADV_WILLNEED`: the kernel reads
/// it in the background). Only a hint, so a failure is ignored.
fn read_ahead(file: &Arc<std::fs::File>, offset: u64, left: u64) -> JoinHandle<()> {
    let file = file.clone();
    tokio::task::spawn_blocking(move || {
        let len = NonZeroU64::new(left.min(CHUNK as u64));
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = rustix::fs::fadvise(&*file, offset, len, rustix::fs::Advice::WillNeed);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = (file, offset, len);
    })
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(advice) = self.read_ahead.as_mut() {
            let _ = ready!(Pin::new(advice).poll(cx));
            self.read_ahead = None;
        }
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let len = self.left.min(CHUNK as u64);
        let chunk = self
            .queue
            .push(self.file.clone(), self.offset, len as usize);
        self.offset += len;
        self.left -= len;
        if self.left > 0 {
            self.read_ahead = Some(read_ahead(&self.file, self.offset, self.left));
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}
