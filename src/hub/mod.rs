//! `caucus hub`: bind, serve HTTP (`http`: a thread per connection, each
//! request handled on its connection's thread), and run the background
//! upkeep (the reaper, the health tick, the transcript writer).
//!
//! The hub is the only process with state; it all sits in one [`Room`]
//! behind one mutex. A long-poll holds its thread, not the lock: it sleeps on
//! its peer's `Condvar`, which releases the mutex while it waits.

pub mod auth;
pub mod config;
pub mod error;
pub mod export;
pub mod feed;
pub mod http;
pub mod journal;
pub mod logger;
pub mod mcp;
pub mod room;
pub mod routes;
pub mod transcript;

use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use auth::{Access, Tickets};
use config::HubConfig;
use error::HubError;
use room::{Room, RoomConfig};

/// What every request thread shares.
pub struct Hub {
    room: Mutex<Room>,
    pub access: Access,
    pub tickets: Tickets,
    pub mcp: mcp::McpSessions,
    /// `/export` answers being built or written now.
    pub exports: Arc<AtomicUsize>,
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
            exports: Arc::default(),
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

/// Raises the soft limit on open files to the hard one: the default soft
/// limit (often 1,024) is far below what a hub holding a thousand polls
/// needs, and past it every new connection is refused.
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
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot serve on {}:{}: {e}", config.host, config.port))?;
    let mut room = Room::new(RoomConfig {
        client_ttl: config.client_ttl,
        reaped_grace: config.reaped_grace,
        rate_limit: config.rate_limit,
        max_peers: config.max_peers,
        max_queued_bytes: config.max_queued_bytes,
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

    let limits = http::Limits {
        read_deadline: config.read_deadline,
        max_connections: config.max_connections,
    };
    http::serve(listener, limits, move |req| routes::handle(&hub, req))
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
