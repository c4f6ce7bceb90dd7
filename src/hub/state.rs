//! What every request thread shares: the room behind its one lock, the
//! operator's credentials and tickets, the MCP sessions, and the count of
//! exports being written.
//!
//! **Invariant:** the room is reached only through [`Hub::room`] (whose guard
//! publishes each operation's changes to the console and writes its journal
//! records when released) or, for a long-poll's wait, [`Hub::lock`].

use std::ops::{Deref, DerefMut};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::auth::{Access, Tickets};
use super::error::HubError;
use super::mcp::McpSessions;
use super::room::Room;

/// What every request thread shares.
pub struct Hub {
    room: Mutex<Room>,
    pub access: Access,
    pub tickets: Tickets,
    pub mcp: McpSessions,
    /// `/export` answers being built or written now.
    pub exports: Arc<AtomicUsize>,
    /// `/search` answers being built now.
    pub searches: Arc<AtomicUsize>,
    /// The bytes of large answers being written (`--max-answer-mib`).
    pub answers: Arc<super::answers::Budget>,
    /// With `--data-dir`: the folder of the searchable history.
    pub history: Option<std::path::PathBuf>,
    /// Names this run of the hub: a client whose token is refused can tell
    /// a hub that restarted and forgot it (another instance) from a kick.
    pub instance: String,
    /// What the hub's own `/mcp` tools present when they call it back
    /// (`X-Caucus-Internal`), so their joins spend no address's bucket.
    pub internal_key: String,
    /// The agents the chair launched (`/agents`).
    pub seats: super::seats::Seats,
    /// Whether the launcher works on a hub bound beyond loopback.
    pub launch_beyond_loopback: bool,
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
        // A panic mid-operation unwinds through here: writing the journal
        // then could persist half an operation, and a second panic would
        // abort the whole hub. The records are dropped instead; the next
        // operation writes the room's meta afresh.
        if std::thread::panicking() {
            log::error!("an operation panicked: its journal records are dropped");
            self.0.abandon_journal();
            return;
        }
        self.0.flush_events();
    }
}

impl Hub {
    pub fn new(room: Room, access: Access) -> Hub {
        Hub {
            room: Mutex::new(room),
            access,
            tickets: Tickets::default(),
            mcp: McpSessions::default(),
            exports: Arc::default(),
            searches: Arc::default(),
            answers: super::answers::Budget::new(super::answers::DEFAULT_BYTES),
            history: None,
            instance: crate::shared::secret::os_random(8)
                .map(|b| crate::shared::secret::hex(&b))
                .unwrap_or_default(),
            // Never empty: with no OS randomness, a key nobody can present.
            internal_key: crate::shared::secret::new_token()
                .unwrap_or_else(|_| "\u{0}unavailable".into()),
            seats: super::seats::Seats::new(
                std::env::current_exe().unwrap_or_else(|_| "caucus".into()),
                super::seats::DEFAULT_MAX,
            ),
            launch_beyond_loopback: false,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::journal::{Fsync, Journal};
    use crate::hub::room::RoomConfig;

    #[test]
    fn an_operation_that_panics_writes_nothing_to_the_journal() {
        let dir = std::env::temp_dir().join(format!("caucus-guard-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (journal, loaded) = Journal::open(&dir, Fsync::Off, 1 << 24).unwrap();
        let mut room = Room::new(RoomConfig::default());
        room.restore(journal, loaded).unwrap();
        let hub = Hub::new(room, Access::default());
        let journal = || std::fs::read_to_string(dir.join("journal")).unwrap_or_default();
        let before = journal();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut room = hub.room();
            room.register("ghost", None, None).unwrap();
            panic!("midway");
        }));
        assert!(unwound.is_err());
        assert_eq!(journal(), before, "nothing of the panicked operation");
        // The room goes on, and the next operation is written.
        hub.room().register("alive", None, None).unwrap();
        assert!(journal().contains("alive"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
