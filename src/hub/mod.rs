//! `caucus hub`: bind, receive requests on a set of threads that grows and
//! shrinks with the load (a request runs on the thread that received it),
//! and run the background upkeep (the reaper, the health tick, the
//! transcript writer).
//!
//! The hub is the only process with state; it all sits in one [`Room`]
//! behind one mutex. A long-poll holds its thread, not the lock: it sleeps on
//! its peer's `Condvar`, which releases the mutex while it waits.

pub mod auth;
pub mod config;
pub mod deadline;
pub mod error;
pub mod export;
pub mod feed;
pub mod journal;
pub mod mcp;
pub mod room;
pub mod routes;
pub mod transcript;

use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use auth::{Access, Tickets};
use config::HubConfig;
use error::HubError;
use room::{Room, RoomConfig};

/// Stack for request threads: handlers are shallow, and serde_json caps
/// nesting at 128 levels, well within this.
const REQUEST_STACK: usize = 256 * 1024;

/// What every request thread shares.
pub struct Hub {
    room: Mutex<Room>,
    pub access: Access,
    pub tickets: Tickets,
    pub mcp: mcp::McpSessions,
}

/// The locked room. Releasing it publishes what the operation changed to
/// the console feed, so no handler can forget to.
pub struct RoomGuard<'a>(MutexGuard<'a, Room>);

impl Deref for RoomGuard<'_> {
    type Target = Room;
    fn deref(&self) -> &Room {
        &self.0
    }
}

impl DerefMut for RoomGuard<'_> {
    fn deref_mut(&mut self) -> &mut Room {
        &mut self.0
    }
}

impl Drop for RoomGuard<'_> {
    fn drop(&mut self) {
        self.0.flush_events();
    }
}

impl Hub {
    pub fn new(room: Room, access: Access) -> Hub {
        Hub {
            room: Mutex::new(room),
            access,
            tickets: Tickets::default(),
            mcp: mcp::McpSessions::default(),
        }
    }

    /// The hub's own address, for `/mcp`'s tools to reach the room.
    pub fn self_url(&self) -> String {
        let host = match self.access.host.as_str() {
            "" | "0.0.0.0" => "127.0.0.1".to_string(),
            "::" => "[::1]".to_string(),
            h if h.contains(':') => format!("[{h}]"),
            h => h.to_string(),
        };
        format!("http://{host}:{}", self.access.port)
    }

    /// The room, locked. A panic in another request thread poisons the
    /// mutex; the room's methods leave it consistent at every return, so the
    /// lock is recovered rather than propagated.
    pub fn room(&self) -> RoomGuard<'_> {
        RoomGuard(self.lock())
    }

    /// The bare lock, for waiting on a `Condvar`; the caller flushes events.
    pub fn lock(&self) -> MutexGuard<'_, Room> {
        self.room.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the `Host` and `Origin` of a request to the operator side:
    /// DNS rebinding and cross-site pages are refused before anything runs.
    pub fn check_browser(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), HubError> {
        if let Some(host) = host
            && !self.access.host_allowed(host)
        {
            return Err(HubError::Forbidden("host not allowed"));
        }
        if let Some(origin) = origin
            && !self.access.origin_allowed(origin)
        {
            return Err(HubError::Forbidden("origin not allowed"));
        }
        Ok(())
    }
}

/// Counts a request for the connection cap while it is handled.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A write that makes no progress for this long fails: a client (or a
/// console) that stops reading cannot hold a thread forever.
const WRITE_DEADLINE: Duration = Duration::from_secs(30);

/// Sets `SO_SNDTIMEO` on the listening socket; Linux copies it to every
/// accepted connection, the only way to reach the sockets tiny_http owns.
/// (`SO_RCVTIMEO` would be copied too, but on the listener it also makes
/// `accept` time out, which ends tiny_http's accept thread for good.)
fn set_write_deadline(listener: &std::net::TcpListener, deadline: Duration) {
    use std::os::fd::AsRawFd;
    // `timeval`'s field types differ between libcs; let them be inferred.
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    tv.tv_sec = deadline.as_secs().try_into().unwrap_or(30);
    // SAFETY: the descriptor is the listener's, open for this call, and the
    // option value is a timeval that outlives the call, as setsockopt needs.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        log::warn!(
            "cannot set a write deadline on connections: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Raises the soft limit on open files to the hard one. tiny_http's accept
/// thread stops for good on its first accept error, and running out of file
/// descriptors is the error a crowd of connections causes; the default soft
/// limit (often 1,024) is far below what a hub holding a thousand polls needs.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass,
    // which lives on this stack frame for both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            let wanted = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                log::debug!(
                    "open files limit raised from {} to {}",
                    limit.rlim_cur,
                    limit.rlim_max
                );
            }
        }
    }
}

/// Keeps glibc's allocator from holding on to memory: a thread-per-request
/// server otherwise gets an arena per thread, and freed memory in them stays
/// resident after a burst. Capped arenas, and a trim after each sweep, let
/// the hub return to its idle size once a busy room quiets down. (musl's
/// allocator returns memory by itself.)
#[cfg(target_env = "gnu")]
mod allocator {
    pub fn cap_arenas() {
        // SAFETY: mallopt only changes allocator settings; M_ARENA_MAX with a
        // small positive value, and a fixed M_MMAP_THRESHOLD, are documented
        // uses.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
            // Large buffers (the log's, a full queue) get pages of their own
            // and give them back when freed. A fixed threshold also stops
            // glibc raising it after each such free, which would put them in
            // the heap among small chunks.
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
    pub fn trim() {
        // SAFETY: malloc_trim only returns free memory to the system.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(not(target_env = "gnu"))]
mod allocator {
    pub fn cap_arenas() {}
    pub fn trim() {}
}

/// Runs the hub until the process is killed.
pub fn run(config: HubConfig) -> Result<(), String> {
    allocator::cap_arenas();
    raise_open_files_limit();
    let listener = std::net::TcpListener::bind((config.host.as_str(), config.port))
        .map_err(|e| format!("cannot listen on {}:{}: {e}", config.host, config.port))?;
    set_write_deadline(&listener, WRITE_DEADLINE);
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| format!("cannot serve on {}:{}: {e}", config.host, config.port))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or("the hub is not listening on an IP socket")?;
    let mut room = Room::new(RoomConfig {
        client_ttl: config.client_ttl,
        reaped_grace: config.reaped_grace,
        rate_limit: config.rate_limit,
        max_peers: config.max_peers,
        send_bucket: config.send_bucket,
        register_bucket: config.register_bucket,
    });
    if let Some(path) = &config.log_file {
        let sink = transcript::start(path.clone(), config.log_retention)
            .map_err(|e| format!("cannot open the transcript {}: {e}", path.display()))?;
        room.set_transcript(sink);
    }
    if let Some(dir) = &config.data_dir {
        let (journal, loaded) = journal::Journal::open(dir, config.fsync, config.journal_limit)?;
        room.restore(journal, loaded)
            .map_err(|e| format!("--data-dir {}: {e}", dir.display()))?;
        log::info!("room kept in {} (fsync {:?})", dir.display(), config.fsync);
    }
    let hub = Arc::new(Hub::new(
        room,
        Access {
            operator_token: config.operator_token.clone(),
            observer_token: config.observer_token.clone(),
            allowed_origins: config.allowed_origins.clone(),
            host: config.host.clone(),
            port: addr.port(),
        },
    ));

    let url = format!("http://{addr}/");
    // Scripts and tests read this line to learn the port picked for `--port 0`.
    println!("caucus hub listening on {url}");
    let _ = std::io::stdout().flush();
    log::info!(
        "hub {} on {url} (auth {}, rate limits {})",
        env!("CARGO_PKG_VERSION"),
        if hub.access.enabled() { "on" } else { "off" },
        if config.rate_limit { "on" } else { "off" }
    );
    if !config.rate_limit {
        log::warn!("rate limits are off: any peer may flood the room");
    }

    start_reaper(Arc::clone(&hub), &config)?;
    start_health(Arc::clone(&hub))?;
    if config.open_browser {
        open_browser(&url);
    }

    let activity = start_nudger(addr)?;
    let conns = Arc::new(deadline::Connections::default());
    deadline::start(
        Arc::clone(&conns),
        addr.port(),
        config.read_deadline,
        config.max_connections,
        activity.clone(),
    )?;
    let serving = Arc::new(Serving {
        server,
        hub,
        activity,
        conns,
        max_connections: config.max_connections,
        in_flight: AtomicUsize::new(0),
        receiving: AtomicUsize::new(0),
    });
    // This thread becomes the first receiver, for good; others come and go.
    receive_loop(&serving, true);
    Ok(())
}

/// What the receiving threads share.
struct Serving {
    server: tiny_http::Server,
    hub: Arc<Hub>,
    activity: std::sync::mpsc::SyncSender<()>,
    /// Which connections have a request being handled, for read deadlines.
    conns: Arc<deadline::Connections>,
    max_connections: usize,
    /// Requests being handled, for the connection cap.
    in_flight: AtomicUsize,
    /// Threads waiting in `recv()`.
    receiving: AtomicUsize,
}

/// Spare receivers kept waiting; a thread beyond these ends after its request.
const SPARE_RECEIVERS: usize = 4;

/// Receive, handle, repeat: each request runs on the thread that received
/// it (no hand-off to another thread), and whenever a thread takes a
/// request while no other thread is waiting for the next, it starts one. A
/// long-poll therefore holds its own thread and never delays anyone; with
/// nothing to do, all but a few threads end.
fn receive_loop(serving: &Arc<Serving>, permanent: bool) {
    loop {
        serving.receiving.fetch_add(1, Ordering::AcqRel);
        let received = serving.server.recv();
        let left = serving.receiving.fetch_sub(1, Ordering::AcqRel) - 1;
        let request = match received {
            Ok(r) => r,
            Err(e) => {
                log::error!("accepting a request: {e}");
                continue;
            }
        };
        if left == 0 {
            let next = Arc::clone(serving);
            let spawned = thread::Builder::new()
                .name("request".into())
                .stack_size(REQUEST_STACK)
                .spawn(move || receive_loop(&next, false));
            if let Err(e) = spawned {
                log::error!("cannot start a request thread: {e}");
            }
        }
        // Never blocks: a pending nudge already covers this request.
        let _ = serving.activity.try_send(());
        if serving.in_flight.load(Ordering::Relaxed) >= serving.max_connections {
            let e = error::HubError::Busy;
            let _ = request.respond(
                tiny_http::Response::from_string(e.body().to_string()).with_status_code(e.status()),
            );
            log::warn!(
                "connection cap ({}) reached: refused a request",
                serving.max_connections
            );
        } else {
            serving.in_flight.fetch_add(1, Ordering::Relaxed);
            let _guard = InFlight(&serving.in_flight);
            let busy = serving.conns.begin(request.remote_addr().copied());
            routes::handle(&serving.hub, request, &busy);
        }
        if !permanent && serving.receiving.load(Ordering::Acquire) >= SPARE_RECEIVERS {
            return;
        }
    }
}

/// Sweeps idle peers often enough for the configured TTL: every 15 s as the
/// spec says, sooner when the TTL or grace is shorter than a minute.
fn start_reaper(hub: Arc<Hub>, config: &HubConfig) -> Result<(), String> {
    let shortest = config.client_ttl.min(config.reaped_grace);
    let every = (shortest / 4).clamp(Duration::from_millis(100), Duration::from_secs(15));
    thread::Builder::new()
        .name("reaper".into())
        .spawn(move || {
            loop {
                thread::sleep(every);
                hub.room().reap(Instant::now());
                allocator::trim();
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the reaper: {e}"))
}

/// Works around a lost wake-up in tiny_http's connection pool.
///
/// tiny_http hands each accepted connection to a pool of threads. Its count
/// of idle threads is only lowered once a woken thread runs, so a connection
/// accepted in that moment is queued with a wake-up no idle thread receives:
/// it then waits, unread, until another connection arrives or a busy one
/// ends. Browsers open several connections at once and hit this often (a
/// script of the console stalled until the page was closed). Every new
/// connection takes the queue's oldest entry first, so opening (and at once
/// closing) a connection to ourselves shortly after any activity serves
/// whatever was stranded. Three nudges follow each burst of requests, then
/// the hub is quiet again: an idle hub makes none.
fn start_nudger(addr: std::net::SocketAddr) -> Result<std::sync::mpsc::SyncSender<()>, String> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
    use std::sync::mpsc::sync_channel;
    let target = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    };
    let (tx, rx) = sync_channel::<()>(1);
    thread::Builder::new()
        .name("nudger".into())
        .spawn(move || {
            let delays = [
                Duration::from_millis(20),
                Duration::from_millis(250),
                Duration::from_secs(1),
            ];
            loop {
                if rx.recv().is_err() {
                    return;
                }
                for delay in delays {
                    thread::sleep(delay);
                    // Requests meanwhile are covered by this round: at most
                    // three nudges per 1.3 s, however busy the hub.
                    while rx.try_recv().is_ok() {}
                    let _ = TcpStream::connect_timeout(&target, Duration::from_secs(1));
                }
            }
        })
        .map_err(|e| format!("cannot start the connection nudger: {e}"))?;
    Ok(tx)
}

/// The console's health tick. Memory is read before the lock is taken.
fn start_health(hub: Arc<Hub>) -> Result<(), String> {
    thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            loop {
                thread::sleep(feed::HEALTH_EVERY);
                if hub.room().watched() {
                    let rss = room::resident_mib();
                    hub.room().publish_health(rss);
                }
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the health tick: {e}"))
}

/// Best effort: a hub on a headless box simply has no browser to open.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            // Reap the opener so it does not linger as a zombie.
            let _ = thread::Builder::new().spawn(move || child.wait());
        }
        Err(e) => log::info!("console at {url} (could not open a browser: {e})"),
    }
}
