//! Connection hygiene for every listener, plain and TLS: a time limit on reading a request's header
//! (`http.timeouts.header`), on connections with no request in flight (`http.timeouts.idle`), and a
//! limit on connections served at once (`http.maxconnections`), so that slow or half-open clients
//! cannot hold the server's sockets and file descriptors.
//!
//! - The header limit is hyper's HTTP/1 `header_read_timeout`. hyper starts its clock when it starts
//!   waiting for a request, so on an HTTP/1 keep-alive connection the wait for the next request counts
//!   too. A connection also has that long from its start (TLS handshake included) to begin its first
//!   request, which covers clients that never send a byte (hyper's protocol detection waits without
//!   a clock) and HTTP/2 connections that never open a stream.
//! - The idle limit closes a connection that has had no request in flight for that long since its
//!   last one: an HTTP/2 connection without streams, a keep-alive connection between requests. A
//!   request is in flight from its header until the last byte of its response is handed to the
//!   connection, so neither limit ever cuts a transfer of a large blob, however long it takes.
//! - At the connection limit, the oldest connection with no request in flight is closed to make room
//!   for the new one; only when every connection has a request in flight does the listener stop
//!   accepting until one ends (backpressure: new clients wait in the kernel's accept queue). Pure
//!   backpressure would leave new clients queued behind the very connections that exhaust the server,
//!   for up to a header timeout per round; closing an idle connection costs its client one
//!   reconnection, as a keep-alive close does, and never loses a request. The limit is also kept
//!   under half the process's file descriptor limit, leaving room for the files and backend
//!   connections that requests open.
//! - At shutdown, [`Connections`] closes whatever is still open when the drain deadline comes (in the
//!   middle of a request or of a handshake) and tells when every connection is gone.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Request, Response};
use futures_util::task::AtomicWaker;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::PollSemaphore;

use crate::config::HttpConfig;

/// The limits, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's header.
    pub header: Duration,
    /// How long a connection may stay without a request in flight.
    pub idle: Duration,
    /// The most connections served at once.
    pub max: usize,
}

impl Limits {
    /// The configured limits, with the connection limit kept under half of `fd_limit` (the process's
    /// file descriptor limit, when it has one).
    pub fn new(http: &HttpConfig, fd_limit: Option<u64>) -> Limits {
        let fd_share =
            fd_limit.map_or(usize::MAX, |n| usize::try_from(n / 2).unwrap_or(usize::MAX));
        Limits {
            header: http.timeouts.header.get(),
            idle: http.timeouts.idle.get(),
            max: http.maxconnections.min(fd_share).max(1),
        }
    }

    /// Applies the header limit to a connection builder. A client that shuts down its side of an
    /// HTTP/1 connection after its request still gets the answer (an incomplete body gets a 400 that
    /// says so, rather than a silent close).
    pub fn configure(&self, builder: &mut Builder<TokioExecutor>) {
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header)
            .half_close(true);
    }
}

/// Raises the soft limit on open files to the hard limit, as Go programs such as registry:2 do at
/// start-up, and returns the limit in force (`None` when unlimited or unknown).
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    limit.current
}

/// One connection's state, shared by its I/O and its service.
struct Activity {
    /// Requests whose response is not yet complete.
    in_flight: AtomicUsize,
    /// Whether a request has started: until then the connection has the header limit, not the
    /// idle one, from its start.
    served: AtomicBool,
    /// When the last request in flight ended (or the connection started).
    idle_since: Mutex<Instant>,
    /// Why the server closed the connection, once it has.
    closed: OnceLock<Closed>,
    /// The connection's task, woken when the connection becomes idle or is closed.
    waker: AtomicWaker,
    /// Told of a close during the handshake, before the connection has a task reading it.
    closed_early: Notify,
    /// The connection's place under the limit, given back when the connection is gone.
    _permit: OwnedSemaphorePermit,
}

impl Activity {
    fn start(&self) {
        self.served.store(true, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    fn end(&self) {
        *self
            .idle_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.waker.wake();
        }
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Closes the connection for `why`, unless it was closed already.
    fn close(&self, why: Closed) {
        if self.closed.set(why).is_ok() {
            self.waker.wake();
            self.closed_early.notify_one();
        }
    }
}

/// Why the server closed a connection.
#[derive(Debug, Clone, Copy)]
enum Closed {
    /// To make room for a new connection.
    Evicted,
    /// At the drain deadline.
    Drained,
}

impl Closed {
    fn error(self) -> io::Error {
        match self {
            Closed::Evicted => io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room for a new connection (http.maxconnections)",
            ),
            Closed::Drained => io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed at shutdown: still open at the drain deadline (http.draintimeout)",
            ),
        }
    }
}

/// The connections of a listener, oldest first, for eviction.
#[derive(Default)]
struct Open(Mutex<VecDeque<Weak<Activity>>>);

impl Open {
    fn add(&self, activity: &Arc<Activity>) {
        let mut open = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.retain(|c| c.strong_count() > 0);
        open.push_back(Arc::downgrade(activity));
    }

    /// Closes the oldest connection with no request in flight, if any.
    fn evict_oldest_idle(&self) {
        let open = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let oldest = open
            .iter()
            .filter_map(Weak::upgrade)
            .find(|c| c.idle() && c.closed.get().is_none());
        if let Some(connection) = oldest {
            tracing::debug!("connection limit reached: closing the oldest idle connection");
            connection.close(Closed::Evicted);
        }
    }

    /// The connections still open.
    fn live(&self) -> Vec<Arc<Activity>> {
        let open = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.iter().filter_map(Weak::upgrade).collect()
    }
}

/// The connections of one listener as a whole, for the end of a drain.
///
/// A connection counts from the moment it is admitted until everything holding it is gone: its
/// task's I/O and service, its responses in flight, and on HTTP/2 the tasks of its streams. So
/// [`Connections::closed`] completes only when no task of the listener's connections still runs.
#[derive(Clone)]
pub struct Connections {
    open: Arc<Open>,
    places: Arc<Semaphore>,
    max: usize,
}

impl Connections {
    /// How many connections are open.
    pub fn count(&self) -> usize {
        self.open.live().len()
    }

    /// Closes every open connection, in the middle of a request or of its handshake: its reads and
    /// writes fail from now on, and a handshake stops.
    pub fn close_all(&self) {
        for connection in self.open.live() {
            connection.close(Closed::Drained);
        }
    }

    /// Completes once every connection is gone (their places under the limit are all given back).
    pub async fn closed(&self) {
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        // The semaphore is never closed, so acquiring only waits.
        let _ = self.places.acquire_many(all).await;
    }
}

/// The make-service of a listener under the limits: it admits a connection once it has a place under
/// the limit, and gives each connection's service (a [`Tracked`]) its [`Activity`].
pub struct Limited<M> {
    make: M,
    permits: PollSemaphore,
    permit: Option<OwnedSemaphorePermit>,
    open: Arc<Open>,
    max: usize,
}

impl<M> Limited<M> {
    /// `make` under `limits`.
    pub fn new(make: M, limits: &Limits) -> Self {
        Limited {
            make,
            permits: PollSemaphore::new(Arc::new(Semaphore::new(limits.max))),
            permit: None,
            open: Arc::default(),
            max: limits.max,
        }
    }

    /// The connections admitted by this make-service, to close and wait for at shutdown.
    pub fn connections(&self) -> Connections {
        Connections {
            open: self.open.clone(),
            places: self.permits.clone_inner(),
            max: self.max,
        }
    }
}

impl<M: Clone> Clone for Limited<M> {
    fn clone(&self) -> Self {
        Limited {
            make: self.make.clone(),
            permits: self.permits.clone(),
            permit: None,
            open: self.open.clone(),
            max: self.max,
        }
    }
}

impl<M, T> tower::Service<T> for Limited<M>
where
    M: tower::Service<T>,
    M::Future: Send + 'static,
{
    type Response = Tracked<M::Response>;
    type Error = M::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, M::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), M::Error>> {
        if self.permit.is_none() {
            match self.permits.poll_acquire(cx) {
                Poll::Ready(permit) => self.permit = permit,
                Poll::Pending => {
                    // Woken when the evicted connection (or any other) ends and gives its place back.
                    self.open.evict_oldest_idle();
                    return Poll::Pending;
                }
            }
        }
        self.make.poll_ready(cx)
    }

    fn call(&mut self, target: T) -> Self::Future {
        let permit = self
            .permit
            .take()
            .expect("poll_ready gives a place before call");
        let activity = Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: Mutex::new(Instant::now()),
            closed: OnceLock::new(),
            waker: AtomicWaker::new(),
            closed_early: Notify::new(),
            _permit: permit,
        });
        self.open.add(&activity);
        let made = self.make.call(target);
        Box::pin(async move {
            Ok(Tracked {
                inner: made.await?,
                activity,
            })
        })
    }
}

/// A connection's service: counts its requests in flight until their responses are complete.
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, B, RB> tower::Service<Request<B>> for Tracked<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = Response<TrackedBody<RB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let guard = InFlight::new(self.activity.clone());
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| TrackedBody {
                inner: body,
                _guard: guard,
            }))
        })
    }
}

/// A request in flight, until dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> Self {
        activity.start();
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A response body that keeps its request in flight until it is complete or dropped.
pub struct TrackedBody<B> {
    inner: B,
    _guard: InFlight,
}

impl<B: http_body::Body + Unpin> http_body::Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Wraps an acceptor (TLS, or the zero-copy one) so that its handshake gets the header limit and its
/// connections the idle limit.
#[derive(Clone)]
pub struct Acceptor<A> {
    inner: A,
    limits: Limits,
}

impl<A> Acceptor<A> {
    /// `inner` under `limits`.
    pub fn new(inner: A, limits: &Limits) -> Self {
        Acceptor {
            inner,
            limits: *limits,
        }
    }
}

impl<I, S, A> axum_server::accept::Accept<I, Tracked<S>> for Acceptor<A>
where
    A: axum_server::accept::Accept<I, Tracked<S>>,
    A::Future: Send + 'static,
{
    type Stream = Guarded<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: Tracked<S>) -> Self::Future {
        let activity = service.activity.clone();
        let accepting = self.inner.accept(stream, service);
        let limits = self.limits;
        Box::pin(async move {
            let handshake = tokio::time::timeout(limits.header, accepting);
            let (io, service) = tokio::select! {
                done = handshake => done.map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "handshake timed out")
                })??,
                // `close` records why before it notifies.
                () = activity.closed_early.notified() => {
                    let why = activity.closed.get().copied().unwrap_or(Closed::Drained);
                    return Err(why.error());
                }
            };
            let deadline = Instant::now() + limits.header;
            Ok((
                Guarded {
                    io,
                    activity,
                    limits,
                    timer: Box::pin(tokio::time::sleep_until(deadline)),
                },
                service,
            ))
        })
    }
}

/// A connection closed with an error once it has been idle too long or was closed by the server.
pub struct Guarded<T> {
    io: T,
    activity: Arc<Activity>,
    limits: Limits,
    timer: Pin<Box<Sleep>>,
}

impl<T> Guarded<T> {
    /// Whether the connection must close now; otherwise arranges to be woken when it must.
    fn closing(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        self.activity.waker.register(cx.waker());
        if let Some(why) = self.activity.closed.get() {
            return Some(why.error());
        }
        if !self.activity.idle() {
            return None;
        }
        let since = *self
            .activity
            .idle_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (limit, setting) = if self.activity.served.load(Ordering::SeqCst) {
            (self.limits.idle, "http.timeouts.idle")
        } else {
            (self.limits.header, "http.timeouts.header")
        };
        let deadline = since + limit;
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        self.timer.as_mut().poll(cx).is_ready().then(|| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no request in flight for longer than {setting}"),
            )
        })
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.closing(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configured connection limit stands unless it exceeds half the open-file limit.
    #[test]
    fn the_limit_keeps_to_half_the_file_descriptors() {
        let http = HttpConfig::default();
        assert_eq!(Limits::new(&http, None).max, 4096);
        assert_eq!(Limits::new(&http, Some(1_048_576)).max, 4096);
        assert_eq!(Limits::new(&http, Some(256)).max, 128);
        let limits = Limits::new(&http, Some(256));
        assert_eq!(limits.header, Duration::from_secs(30));
        assert_eq!(limits.idle, Duration::from_secs(120));
    }
}
