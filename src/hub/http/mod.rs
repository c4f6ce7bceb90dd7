//! The hub's HTTP/1.1 server: accept, read each request whole within its
//! bounds, hand it to the routes, write the answer.
//!
//! A thread per connection, blocking I/O, a loop that reads top to bottom
//! (`conn.rs`). The hub owns every socket it accepts, so each bound is a
//! plain property of that socket or of this loop, on every OS:
//!
//! - a head must arrive whole within `--read-deadline` of the connection
//!   going idle, and be at most 32 KiB with 64 headers (431 past either);
//! - a body must arrive within the deadline after its head, and be at most
//!   64 KiB (413, read no further);
//! - a head that could be read two ways (request smuggling) is refused with
//!   400 and the connection closed (`head.rs`);
//! - a write that makes no progress for 30 s fails (the socket's own write
//!   timeout), freeing the thread;
//! - at most `--max-connections` connections are open: past it the longest
//!   idle one (idle a second or more) is closed, and when there is none the
//!   newcomer gets 503.
//!
//! Why not tiny_http, which the design card first named: it reads request
//! heads with no size limit, takes the bytes behind a request with both
//! `Content-Length` and `Transfer-Encoding` as a second request, offers no
//! per-connection timeout (the hub used to list `/proc/self/fd` to cut slow
//! clients, which works on Linux only), could strand an accepted connection
//! unread, and ends its accept thread on the first accept error. Each of
//! those is a hole in the hub's bounds; owning the sockets closes them all
//! in a few hundred lines. `httparse` (already linked by `ureq` and
//! `tungstenite`) parses the heads.
//!
//! **Invariant:** this module knows nothing of the room or of the API: it
//! turns bytes into a [`Request`] and a [`Outcome`] into bytes.

mod conn;
pub mod head;

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// A write that makes no progress for this long fails: a client (or a
/// console) that stops reading cannot hold a thread forever.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(30);
/// Stack for connection threads: handlers are shallow, and serde_json caps
/// nesting at 128 levels, well within this.
const STACK: usize = 256 * 1024;
/// Threads kept waiting for the next connection; more end after a while.
const SPARE_THREADS: usize = 4;
/// How long a spare thread beyond those waits before it ends.
const SPARE_WAIT: Duration = Duration::from_secs(5);
/// At the cap, an idle connection makes way for a newcomer only once it has
/// been idle this long: a client whose request is on its way is not cut.
const MIN_IDLE_TO_CLOSE: Duration = Duration::from_secs(1);

/// Writes all of `bytes` by `deadline`: the socket's write timeout is set
/// to what is left before each write, so a reader that takes a byte now
/// and then cannot stretch one answer past the deadline.
pub fn write_all_by(stream: &mut TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "write deadline passed",
            ));
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The methods the hub tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Other,
}

impl Method {
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Other => "OTHER",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a body could not be had; the routes answer with the matching error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BodyError {
    /// Over the limit: 413, and it was not read.
    TooLarge,
    /// It stopped short (the client went quiet past the deadline, or hung up): 408.
    Incomplete,
}

/// A request, read whole.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    /// Path and query as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Result<Vec<u8>, BodyError>,
    pub remote: Option<SocketAddr>,
}

impl Request {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The first value of header `name` in `headers` (names ignore case).
fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// An answer.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Kept alive until the answer is written, then dropped (a permit
    /// that counts answers being written, for instance).
    pub until_written: Option<Box<dyn Send>>,
}

impl Response {
    pub fn new(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body,
            until_written: None,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// What runs on a connection after a `101 Switching Protocols`: it owns
/// the socket, and gets any bytes the client sent behind the head.
pub type Takeover = Box<dyn FnOnce(TcpStream, Vec<u8>) + Send>;

/// What a handler makes of a request.
pub enum Outcome {
    Respond(Response),
    /// Answer `101` with these headers, then hand the connection over.
    Upgrade(Response, Takeover),
}

/// How the server is bounded.
#[derive(Clone, Debug)]
pub struct Limits {
    pub read_deadline: Duration,
    pub max_connections: usize,
    /// The largest request body read; a larger one is answered 413.
    pub max_body: usize,
}

/// The open connections: for the cap, which closes the longest idle.
#[derive(Default)]
struct Registry {
    conns: HashMap<u64, Open>,
}

struct Open {
    /// A handle to shut it down from another thread.
    stream: TcpStream,
    /// Since when it has waited for a request; `None` while one is handled.
    idle_since: Option<Instant>,
}

/// What every connection thread shares.
pub(crate) struct Server {
    limits: Limits,
    registry: Mutex<Registry>,
    pool: Mutex<Pool>,
    wake: Condvar,
    handler: Box<dyn Fn(Request) -> Outcome + Send + Sync>,
}

/// Threads waiting for a connection, and connections handed to them.
/// Invariant: `queue.len() <= idle`, so every queued connection has a
/// thread that will take it (no connection is ever stranded unread).
#[derive(Default)]
struct Pool {
    idle: usize,
    queue: VecDeque<(u64, TcpStream)>,
}

impl Server {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks connection `id` idle (waiting for a request) or busy.
    fn set_idle(&self, id: u64, idle: bool) {
        if let Some(open) = self.registry().conns.get_mut(&id) {
            open.idle_since = idle.then(Instant::now);
        }
    }

    fn forget(&self, id: u64) {
        self.registry().conns.remove(&id);
    }

    /// Makes room for one more connection: past the cap the longest idle
    /// one (idle for at least [`MIN_IDLE_TO_CLOSE`]) is shut. `false` when
    /// none is: every open connection is busy or just became idle.
    fn admit(&self, id: u64, stream: &TcpStream) -> bool {
        let mut reg = self.registry();
        if reg.conns.len() >= self.limits.max_connections {
            let now = Instant::now();
            let oldest = reg
                .conns
                .iter()
                .filter_map(|(id, o)| o.idle_since.map(|t| (t, *id)))
                .filter(|(t, _)| now.saturating_duration_since(*t) >= MIN_IDLE_TO_CLOSE)
                .min();
            let Some((_, victim)) = oldest else {
                return false;
            };
            if let Some(open) = reg.conns.remove(&victim) {
                log::debug!("connection cap reached: closed the longest idle connection");
                let _ = open.stream.shutdown(Shutdown::Both);
            }
        }
        match stream.try_clone() {
            Ok(handle) => {
                reg.conns.insert(
                    id,
                    Open {
                        stream: handle,
                        idle_since: Some(Instant::now()),
                    },
                );
                true
            }
            Err(e) => {
                log::warn!("cannot track a connection: {e}");
                false
            }
        }
    }

    /// Gives a connection to a waiting thread, or to a new one.
    fn dispatch(self: &Arc<Self>, id: u64, stream: TcpStream) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.idle > pool.queue.len() {
            pool.queue.push_back((id, stream));
            self.wake.notify_one();
            return;
        }
        drop(pool);
        let server = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("connection".into())
            .stack_size(STACK)
            .spawn(move || server.work(Some((id, stream))));
        if let Err(e) = spawned {
            log::error!("cannot start a connection thread: {e}");
            self.forget(id);
        }
    }

    /// Serves connections until none has come for a while and enough
    /// other threads are waiting.
    fn work(&self, first: Option<(u64, TcpStream)>) {
        let mut next = first;
        loop {
            if let Some((id, stream)) = next.take() {
                conn::serve(self, id, stream);
                self.forget(id);
            }
            let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            pool.idle += 1;
            loop {
                if let Some(c) = pool.queue.pop_front() {
                    pool.idle -= 1;
                    next = Some(c);
                    break;
                }
                let (guard, waited) = self
                    .wake
                    .wait_timeout(pool, SPARE_WAIT)
                    .unwrap_or_else(PoisonError::into_inner);
                pool = guard;
                if waited.timed_out() && pool.queue.is_empty() && pool.idle > SPARE_THREADS {
                    pool.idle -= 1;
                    return;
                }
            }
        }
    }
}

/// Connections the cap has no room for, waiting to be told so.
const REFUSALS_WAITING: usize = 64;

/// Answers connections the cap has no room for with 503, one at a time,
/// off the accept thread; past [`REFUSALS_WAITING`] they are just closed.
fn start_refuser() -> Option<SyncSender<TcpStream>> {
    let (tx, rx) = sync_channel::<TcpStream>(REFUSALS_WAITING);
    let refuse = move || {
        for mut stream in rx {
            let body = br#"{"detail": "too many connections, retry shortly"}"#;
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let busy =
                Response::new(503, body.to_vec()).with_header("Content-Type", "application/json");
            let _ = conn::write_response(&mut stream, &busy, false, false);
            conn::linger_close(stream);
        }
    };
    match thread::Builder::new().name("refuser".into()).spawn(refuse) {
        Ok(_) => Some(tx),
        Err(e) => {
            log::error!("cannot start the refusal thread: {e}");
            None
        }
    }
}

/// Serves `listener` for as long as the process runs, calling `handler`
/// for each request on the thread of its connection. This thread accepts.
pub fn serve(
    listener: TcpListener,
    limits: Limits,
    handler: impl Fn(Request) -> Outcome + Send + Sync + 'static,
) -> ! {
    let server = Arc::new(Server {
        limits,
        registry: Mutex::default(),
        pool: Mutex::default(),
        wake: Condvar::new(),
        handler: Box::new(handler),
    });
    let refuser = start_refuser();
    let mut next_id = 0u64;
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors, most likely: the loop goes on, a
                // little later, instead of ending for good.
                log::warn!("accepting a connection: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        next_id += 1;
        let _ = stream.set_nodelay(true);
        if let Err(e) = stream.set_write_timeout(Some(WRITE_DEADLINE)) {
            log::warn!("cannot set a write deadline: {e}");
        }
        if server.admit(next_id, &stream) {
            server.dispatch(next_id, stream);
        } else {
            log::warn!(
                "connection cap ({}) reached with every connection busy: refused one",
                server.limits.max_connections
            );
            if let Some(refuser) = &refuser {
                // Full: the connection is closed without a word.
                let _ = refuser.try_send(stream);
            }
        }
    }
}
