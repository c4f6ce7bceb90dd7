//! Read deadlines for the connections tiny_http reads.
//!
//! tiny_http reads each request's head on a thread of its own, with no
//! deadline and no way to give it one per connection (`SO_RCVTIMEO` on the
//! listener would also time out `accept`, see `set_write_deadline`). A
//! client that sends its head a byte a second would hold that thread as
//! long as it liked, and a crowd of them would exhaust the hub.
//!
//! So the hub watches its connections from outside. Every request that
//! reaches a handler marks its connection busy ([`Connections::begin`]);
//! once a second a watcher lists the process's sockets (`/proc/self/fd`),
//! keeps those accepted on the hub's port, and closes the reading side of
//! any that has gone a whole deadline with no request being handled (an
//! idle keep-alive connection, or a head still trickling in), or whose body
//! has taken longer than the deadline to arrive. A held long-poll is busy,
//! so it is never cut. When more connections are open than the cap allows,
//! the longest-idle ones are closed too.
//!
//! Closing only the reading side wakes tiny_http's blocked read with an
//! end-of-file, which ends that connection quietly; a response still owed
//! on it can still be written.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What the handlers report about each connection, by peer address.
#[derive(Default)]
pub struct Connections {
    state: Mutex<HashMap<SocketAddr, Conn>>,
    /// Connections closed for missing the deadline or for the cap, ever.
    cut: AtomicU64,
}

#[derive(Default)]
struct Conn {
    /// Requests from this connection being handled now.
    busy: u32,
    /// When the body of the request being handled began to be read.
    body_since: Option<Instant>,
    /// When its last request was answered.
    done_at: Option<Instant>,
}

/// A request being handled; dropping it marks the connection idle again.
pub struct Busy<'a> {
    conns: &'a Connections,
    peer: Option<SocketAddr>,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Conn>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks `peer`'s connection busy until the returned guard is dropped.
    pub fn begin(&self, peer: Option<SocketAddr>) -> Busy<'_> {
        if let Some(peer) = peer {
            self.lock().entry(peer).or_default().busy += 1;
        }
        Busy { conns: self, peer }
    }

    /// How many connections have been closed for the deadline or the cap.
    pub fn cut_total(&self) -> u64 {
        self.cut.load(Ordering::Relaxed)
    }
}

impl Busy<'_> {
    /// Marks the start (`true`) and the end (`false`) of reading the body:
    /// the deadline runs while it is read.
    pub fn reading_body(&self, reading: bool) {
        if let Some(peer) = self.peer
            && let Some(conn) = self.conns.lock().get_mut(&peer)
        {
            conn.body_since = reading.then(Instant::now);
        }
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Some(peer) = self.peer
            && let Some(conn) = self.conns.lock().get_mut(&peer)
        {
            conn.busy = conn.busy.saturating_sub(1);
            conn.body_since = None;
            conn.done_at = Some(Instant::now());
        }
    }
}

/// What the watcher decides for one open connection.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// A request is being handled (a held poll, a response being written).
    Busy,
    /// Nothing is being handled since this instant.
    IdleSince(Instant),
    /// Over the deadline: close it.
    Cut,
}

/// How often the watcher looks: often enough that a deadline is kept
/// within a fifth of itself, never more than once every 200 ms.
fn period(deadline: Duration) -> Duration {
    (deadline / 5).clamp(Duration::from_millis(200), Duration::from_secs(1))
}

/// One connection's verdict. `first_seen` is when the watcher first saw the
/// socket, which stands in for its accept time.
fn judge(conn: Option<&Conn>, first_seen: Instant, now: Instant, deadline: Duration) -> Verdict {
    let since = match conn {
        Some(c) if c.busy > 0 => match c.body_since {
            Some(t) => t,
            None => return Verdict::Busy,
        },
        Some(c) => c.done_at.map_or(first_seen, |d| d.max(first_seen)),
        None => first_seen,
    };
    if now.saturating_duration_since(since) >= deadline {
        Verdict::Cut
    } else if conn.is_some_and(|c| c.busy > 0) {
        Verdict::Busy
    } else {
        Verdict::IdleSince(since)
    }
}

/// Starts the watcher for connections accepted on `port`.
/// `nudge` pokes the nudger (see `start_nudger`): a connection still queued
/// in tiny_http's pool is only closed once a pool thread takes it up.
pub fn start(
    conns: Arc<Connections>,
    port: u16,
    deadline: Duration,
    cap: usize,
    nudge: std::sync::mpsc::SyncSender<()>,
) -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        log::warn!("read deadlines need Linux's /proc: slow clients are not cut off here");
        return Ok(());
    }
    std::thread::Builder::new()
        .name("deadlines".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let mut watcher = Watcher {
                port,
                known: HashMap::new(),
            };
            loop {
                std::thread::sleep(period(deadline));
                if watcher.sweep(&conns, deadline, cap) > 0 {
                    // Connections shut a sweep ago are still open: stranded.
                    let _ = nudge.try_send(());
                }
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the deadline watcher: {e}"))
}

struct Watcher {
    port: u16,
    /// Every socket seen, by inode.
    known: HashMap<u64, Seen>,
}

#[derive(Clone, Copy)]
struct Seen {
    /// The peer, if the socket was accepted on our port (`None` for the
    /// listener and for outgoing sockets).
    peer: Option<SocketAddr>,
    first_seen: Instant,
    /// Already shut: on its way out, no longer counted or judged.
    cut: bool,
}

struct Open {
    fd: i32,
    inode: u64,
    peer: SocketAddr,
    first_seen: Instant,
}

impl Watcher {
    /// Closes what is late or over the cap; returns how many connections
    /// shut by an earlier sweep are still open.
    fn sweep(&mut self, conns: &Connections, deadline: Duration, cap: usize) -> usize {
        let now = Instant::now();
        let (open, stranded) = self.open_connections(now);
        let mut cut = Vec::new();
        let mut idle = Vec::new();
        {
            let mut state = conns.lock();
            let peers: HashSet<SocketAddr> = open.iter().map(|o| o.peer).collect();
            state.retain(|peer, c| c.busy > 0 || peers.contains(peer));
            if state.capacity() > 64 && state.capacity() > state.len() * 4 {
                state.shrink_to_fit();
            }
            for o in &open {
                match judge(state.get(&o.peer), o.first_seen, now, deadline) {
                    Verdict::Busy => {}
                    // Only connections seen by an earlier sweep count for
                    // the cap: a connection opened and closed at once (the
                    // nudger's) does not push others out.
                    Verdict::IdleSince(t) if o.first_seen < now => idle.push((t, o)),
                    Verdict::IdleSince(_) => {}
                    Verdict::Cut => cut.push(o),
                }
            }
        }
        let late = cut.len();
        let fresh = open.iter().filter(|o| o.first_seen == now).count();
        let over = (open.len() - cut.len() - fresh).saturating_sub(cap);
        if over > 0 {
            idle.sort_by_key(|(t, o)| (*t, o.inode));
            cut.extend(idle.iter().take(over).map(|(_, o)| *o));
        }
        let mut closed = 0;
        for o in &cut {
            if let Some(seen) = self.known.get_mut(&o.inode) {
                seen.cut = true;
            }
            if shut_read(o.fd, o.inode) {
                log::debug!("closed the connection from {}", o.peer);
                closed += 1;
            }
        }
        if closed > 0 {
            conns.cut.fetch_add(closed, Ordering::Relaxed);
            log::info!(
                "closed {closed} connection(s): {late} sent no complete request in {:.1} s, \
                 {} over the cap of {cap} open connections",
                deadline.as_secs_f64(),
                cut.len() - late
            );
        }
        stranded
    }

    /// The sockets accepted on our port that are open now and not yet
    /// shut, and how many shut ones are still open.
    fn open_connections(&mut self, now: Instant) -> (Vec<Open>, usize) {
        let mut open = Vec::new();
        let mut stranded = 0;
        let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
            return (open, stranded);
        };
        let mut present = HashSet::new();
        for entry in dir.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Some(inode) = std::fs::read_link(entry.path())
                .ok()
                .and_then(|l| socket_inode(l.to_str()?))
            else {
                continue;
            };
            // tiny_http holds each connection twice (a descriptor for
            // each half): one entry per socket.
            if !present.insert(inode) {
                continue;
            }
            let port = self.port;
            let seen = *self.known.entry(inode).or_insert_with(|| Seen {
                peer: sys::accepted_peer(fd, port),
                first_seen: now,
                cut: false,
            });
            match (seen.peer, seen.cut) {
                (Some(peer), false) => open.push(Open {
                    fd,
                    inode,
                    peer,
                    first_seen: seen.first_seen,
                }),
                (Some(_), true) => stranded += 1,
                (None, _) => {}
            }
        }
        self.known.retain(|inode, _| present.contains(inode));
        (open, stranded)
    }
}

/// The inode of a `/proc/self/fd` link to a socket: `socket:[12345]`.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Shuts the reading side of socket `inode`, open as `fd`. The descriptor
/// is duplicated and the duplicate checked to be that very socket first: if
/// `fd` was closed and reused meanwhile, nothing happens.
fn shut_read(fd: i32, inode: u64) -> bool {
    sys::shut_read(fd, inode)
}

#[cfg(target_os = "linux")]
mod sys {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

    /// Reads a socket address the kernel wrote into `storage`.
    fn to_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
        match storage.ss_family as libc::c_int {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in,
                // and sockaddr_storage is large and aligned enough for it.
                let a = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddrV4::new(ip, u16::from_be(a.sin_port)).into())
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6.
                let a = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                let port = u16::from_be(a.sin6_port);
                Some(SocketAddrV6::new(ip, port, a.sin6_flowinfo, a.sin6_scope_id).into())
            }
            _ => None,
        }
    }

    /// `getsockname` or `getpeername` of `fd`.
    fn name(
        fd: i32,
        call: unsafe extern "C" fn(
            libc::c_int,
            *mut libc::sockaddr,
            *mut libc::socklen_t,
        ) -> libc::c_int,
    ) -> Option<SocketAddr> {
        // SAFETY: an all-zero sockaddr_storage is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: the pointer and length describe `storage`, which outlives
        // the call; a descriptor that is not a socket only gets an error.
        let rc = unsafe {
            call(
                fd,
                (&mut storage as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        if rc == 0 { to_addr(&storage) } else { None }
    }

    /// The peer of `fd` if it is a connection accepted on local `port`.
    pub fn accepted_peer(fd: i32, port: u16) -> Option<SocketAddr> {
        if name(fd, libc::getsockname)?.port() != port {
            return None;
        }
        name(fd, libc::getpeername)
    }

    pub fn shut_read(fd: i32, inode: u64) -> bool {
        // SAFETY: duplicating a descriptor number we do not own is harmless:
        // it fails if the number is closed, and the duplicate is ours.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return false;
        }
        // SAFETY: an all-zero stat is a valid value for fstat to fill.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `dup` is our own open descriptor and `st` outlives the
        // calls; shutdown on it affects only the socket just verified.
        unsafe {
            let same = libc::fstat(dup, &mut st) == 0 && st.st_ino as u64 == inode;
            if same {
                libc::shutdown(dup, libc::SHUT_RD);
            }
            libc::close(dup);
            same
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::net::SocketAddr;
    pub fn accepted_peer(_fd: i32, _port: u16) -> Option<SocketAddr> {
        None
    }
    pub fn shut_read(_fd: i32, _inode: u64) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(10);

    #[test]
    fn a_held_request_is_never_cut() {
        let t0 = Instant::now();
        let conn = Conn {
            busy: 1,
            body_since: None,
            done_at: None,
        };
        assert_eq!(judge(Some(&conn), t0, t0 + D * 100, D), Verdict::Busy);
    }

    #[test]
    fn a_slow_body_is_cut_after_the_deadline() {
        let t0 = Instant::now();
        let conn = Conn {
            busy: 1,
            body_since: Some(t0 + D),
            done_at: None,
        };
        assert_eq!(judge(Some(&conn), t0, t0 + D + D / 2, D), Verdict::Busy);
        assert_eq!(judge(Some(&conn), t0, t0 + D * 2, D), Verdict::Cut);
    }

    #[test]
    fn idleness_counts_from_the_last_answer_or_from_accept() {
        let t0 = Instant::now();
        assert_eq!(judge(None, t0, t0 + D / 2, D), Verdict::IdleSince(t0));
        assert_eq!(judge(None, t0, t0 + D, D), Verdict::Cut);
        let answered = Conn {
            busy: 0,
            body_since: None,
            done_at: Some(t0 + D),
        };
        assert_eq!(
            judge(Some(&answered), t0, t0 + D + D / 2, D),
            Verdict::IdleSince(t0 + D)
        );
        assert_eq!(judge(Some(&answered), t0, t0 + D * 2, D), Verdict::Cut);
    }

    #[test]
    fn socket_links_are_read_and_others_ignored() {
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("pipe:[4242]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn the_watch_period_follows_the_deadline_within_bounds() {
        assert_eq!(period(Duration::from_secs(20)), Duration::from_secs(1));
        assert_eq!(period(Duration::from_secs(2)), Duration::from_millis(400));
        assert_eq!(
            period(Duration::from_millis(100)),
            Duration::from_millis(200)
        );
    }
}
