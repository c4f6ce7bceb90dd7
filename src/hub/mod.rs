//! `caucus hub`: bind, serve HTTP (`http`: a thread per connection, each
//! request handled on its connection's thread), and run the background
//! upkeep (the reaper, the health tick, the transcript writer).
//!
//! The hub is the only process with state; it all sits in one [`Room`]
//! behind one mutex. A long-poll holds its thread, not the lock: it sleeps on
//! its peer's `Condvar`, which releases the mutex while it waits.

pub mod answers;
pub mod assets;
pub mod auth;
pub mod chair;
pub mod config;
pub mod console;
pub mod error;
pub mod events;
pub mod export;
pub mod fuzzing;
pub mod health;
pub mod history;
pub mod http;
pub mod journal;
pub mod logger;
pub mod mcp;
pub mod notify;
pub mod reply;
pub mod room;
pub mod routes;
pub mod search;
pub mod seats;
pub mod service;
pub mod state;
pub mod transcript;

pub use state::Hub;

use std::io::Write;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use auth::Access;
use config::HubConfig;
use room::{Room, RoomConfig};

/// Raises the soft limit on open files as far as the system allows: the
/// default soft limit (often 1,024; 256 on macOS) is far below what a hub
/// holding a thousand polls needs, and past it every new connection is
/// refused. The hard limit may be "unlimited", which macOS refuses as a
/// soft limit (EINVAL): then the kernel's per-process maximum is used.
#[cfg(unix)]
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass, on this stack frame.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let before = limit.rlim_cur;
    // What the hub may ask for: the hard limit, clamped where the kernel
    // caps a process lower (OPEN_MAX on macOS).
    let mut wanted = limit.rlim_max;
    if cfg!(target_os = "macos") {
        wanted = wanted.min(10_240);
    }
    if before >= wanted {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        log::debug!("open files limit raised from {before} to {wanted}");
    } else {
        log::warn!(
            "cannot raise the open files limit from {before}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Windows has no per-process descriptor limit to raise.
#[cfg(not(unix))]
fn raise_open_files_limit() {}

/// Keeps glibc's allocator from holding on to memory: a thread-per-request
/// server otherwise gets an arena per thread, and freed memory in them stays
/// resident after a burst. Capped arenas, and a trim after each sweep, let
/// the hub return to its idle size once a busy room quiets down. (musl's
/// allocator returns memory by itself.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
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

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
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
        backlog_alarm: config.backlog_alarm,
        reaped_grace: config.reaped_grace,
        rate_limit: config.rate_limit,
        max_peers: config.max_peers,
        max_queued_bytes: config.max_queued_bytes,
        send_bucket: config.send_bucket,
        register_bucket: config.register_bucket,
        loop_guard: config.loop_guard,
    });
    if let Some(command) = &config.notify_cmd {
        let notifier = notify::Notifier::start(command.clone())
            .map_err(|e| format!("cannot start --notify-cmd's thread: {e}"))?;
        room.set_notifier(notifier);
    }
    if let Some(path) = &config.log_file {
        let sink = transcript::start(path.clone(), config.log_retention)
            .map_err(|e| format!("cannot open the transcript {}: {e}", path.display()))?;
        room.set_transcript(sink);
    }
    let mut history_dir = None;
    if let Some(dir) = &config.data_dir {
        let (journal, loaded) = journal::Journal::open(dir, config.fsync, config.journal_limit)?;
        let real = journal.dir().to_path_buf();
        let sink = history::start(&real, config.history_bytes)
            .map_err(|e| format!("--data-dir {}: cannot open its history: {e}", dir.display()))?;
        room.set_history(sink);
        history_dir = Some(real);
        room.restore(journal, loaded)
            .map_err(|e| format!("--data-dir {}: {e}", dir.display()))?;
        log::info!("room kept in {} (fsync {:?})", dir.display(), config.fsync);
    }
    let operator_token = operator_credential(&config, addr.port());
    let mut hub = Hub::new(
        room,
        Access {
            operator_token,
            agent_key: config.agent_key.clone(),
            observer_token: config.observer_token.clone(),
            allowed_origins: config.allowed_origins.clone(),
            host: config.host.clone(),
            port: addr.port(),
        },
    );
    hub.history = history_dir;
    hub.answers = answers::Budget::new(config.max_answer_bytes);
    hub.seats = seats::Seats::new(
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?,
        config.agent_max,
    );
    hub.launch_beyond_loopback = config.allow_remote_launch;
    // Only a hub on loopback: its local clients are this machine's, and
    // reach it at a loopback address.
    if auth::is_loopback_name(&config.host)
        && let Err(e) = crate::shared::identity::keep_local_key(addr.port(), &hub.internal_key)
    {
        log::warn!(
            "cannot keep the local key ({e}): local agents share the loopback \
             registration bucket with everyone"
        );
    }
    let hub = Arc::new(hub);

    let url = format!("http://{addr}/");
    // Scripts and tests read this line to learn the port picked for `--port 0`.
    println!("caucus hub listening on {url}");
    // The person at the keyboard is signed in by the URL: a single-use
    // ticket, never the token itself (no token in a log or a Referer).
    let console = if hub.access.enabled() {
        match hub.tickets.mint_for(auth::Role::Operator, auth::LAUNCH_TTL) {
            Ok(ticket) => format!("{url}#ticket={ticket}"),
            Err(e) => {
                log::warn!("cannot mint the console's ticket: {e}");
                url.clone()
            }
        }
    } else {
        url.clone()
    };
    // Written, not println!: a reader that took only the first line and
    // closed the pipe must not bring the hub down.
    let mut out = std::io::stdout();
    let _ = if hub.access.enabled() {
        writeln!(
            out,
            "console (signs one browser in, within {} minutes): {console}",
            auth::LAUNCH_TTL.as_secs() / 60
        )
    } else {
        writeln!(
            out,
            "console: {console} (no auth: anyone who reaches the port is the chair)"
        )
    };
    let _ = out.flush();
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
    health::start(Arc::clone(&hub))?;
    if config.open_browser {
        open_browser(&console);
    }

    let limits = http::Limits {
        read_deadline: config.read_deadline,
        max_connections: config.max_connections,
        max_body: crate::shared::wire::MAX_BODY_BYTES,
    };
    http::serve(listener, limits, move |req| routes::handle(&hub, req))
}

/// The operator's credential: `--operator-token`, else none with
/// `--no-auth` (said loudly), else the one kept for this port on this
/// machine, else a fresh one, kept private for the local tools.
fn operator_credential(config: &HubConfig, port: u16) -> Option<String> {
    if let Some(token) = &config.operator_token {
        return Some(token.clone());
    }
    if config.no_auth {
        log::warn!(
            "--no-auth: no operator credential; anyone who reaches the port acts as the \
             chair (approves tools, stops the room, reads every message)"
        );
        return None;
    }
    let token = match crate::shared::identity::kept_operator_token(port) {
        Some(kept) => kept,
        None => match crate::shared::secret::new_token() {
            Ok(fresh) => fresh,
            Err(e) => {
                // Refusing to start is better than starting open.
                eprintln!("caucus hub: cannot make an operator token ({e}); exiting");
                std::process::exit(1);
            }
        },
    };
    match crate::shared::identity::keep_operator_token(port, &token) {
        Ok(path) => log::info!("operator token kept in {}", path.display()),
        Err(e) => log::warn!(
            "cannot keep the operator token for the local tools ({e}): sign in through the \
             console URL"
        ),
    }
    Some(token)
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

/// Best effort: a hub on a headless box simply has no browser to open.
fn open_browser(url: &str) {
    match crate::shared::platform::open_url(url) {
        Ok(mut child) => {
            // Reap the opener so it does not linger as a zombie.
            let _ = thread::Builder::new().spawn(move || child.wait());
        }
        Err(e) => log::info!("console at {url} (could not open a browser: {e})"),
    }
}
