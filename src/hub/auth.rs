//! Secrets and who may do what: peer tokens, operator and observer roles, and
//! the browser `Origin` check that keeps other sites from driving the hub.
//!
//! Invariant: every secret comparison goes through [`same_secret`], which
//! takes the same time whatever the inputs share. Nothing here logs a secret.

use std::sync::{Mutex, PoisonError};

pub use crate::shared::secret::{new_token, same_secret};
use std::time::{Duration, Instant};

/// What a caller of an operator path may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Reads and acts.
    Operator,
    /// Reads only.
    Observer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Observer => "observer",
        }
    }
}

/// How long a `/ui` ticket stays valid.
pub const TICKET_TTL: Duration = Duration::from_secs(30);
/// Outstanding tickets at most; minting past this drops the oldest.
const MAX_TICKETS: usize = 256;

/// Single-use, short-lived tickets that let a page open `/ui`: a feed that
/// never reads cannot take a token in a frame, and a token in a URL would
/// end up in logs and history.
#[derive(Debug, Default)]
pub struct Tickets(Mutex<Vec<(String, Role, Instant, Duration)>>);

/// How long the ticket in the console URL the hub prints at start stays
/// valid: long enough to click it, single-use.
pub const LAUNCH_TTL: Duration = Duration::from_secs(600);

impl Tickets {
    /// A fresh ticket for `role`, valid [`TICKET_TTL`].
    pub fn mint(&self, role: Role) -> std::io::Result<String> {
        self.mint_for(role, TICKET_TTL)
    }

    /// A fresh ticket for `role`, valid `ttl`.
    pub fn mint_for(&self, role: Role, ttl: Duration) -> std::io::Result<String> {
        let ticket = new_token()?;
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        all.retain(|(_, _, born, ttl)| now.duration_since(*born) < *ttl);
        if all.len() >= MAX_TICKETS {
            all.remove(0);
        }
        all.push((ticket.clone(), role, now, ttl));
        Ok(ticket)
    }

    /// The role of a valid ticket, which is used up.
    pub fn redeem(&self, ticket: &str) -> Option<Role> {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let i = all.iter().position(|(t, _, _, _)| same_secret(t, ticket))?;
        let (_, role, born, ttl) = all.remove(i);
        (born.elapsed() < ttl).then_some(role)
    }
}

/// The operator side's credentials and trusted browser origins.
#[derive(Clone, Debug, Default)]
pub struct Access {
    pub operator_token: Option<String>,
    pub observer_token: Option<String>,
    /// What agents present to `/register` and `/mcp` (`--agent-key`).
    pub agent_key: Option<String>,
    /// Origins allowed besides the loopback ones on the served port.
    pub allowed_origins: Vec<String>,
    /// The address the hub is bound to, and its port.
    pub host: String,
    pub port: u16,
}

impl Access {
    /// Auth is on once an operator token is configured.
    pub fn enabled(&self) -> bool {
        self.operator_token.is_some()
    }

    /// Whether a caller may pass the agent door (`/register`, `/mcp`):
    /// always without an agent key, else only with that key.
    pub fn agent_ok(&self, bearer: Option<&str>) -> bool {
        match &self.agent_key {
            None => true,
            Some(key) => bearer.is_some_and(|b| same_secret(b, key)),
        }
    }

    /// The role a bearer token grants. With auth off everyone is operator.
    pub fn role_for(&self, bearer: Option<&str>) -> Option<Role> {
        if !self.enabled() {
            return Some(Role::Operator);
        }
        let bearer = bearer?;
        if let Some(op) = &self.operator_token
            && same_secret(bearer, op)
        {
            return Some(Role::Operator);
        }
        if let Some(obs) = &self.observer_token
            && same_secret(bearer, obs)
        {
            return Some(Role::Observer);
        }
        None
    }

    /// Whether a browser `Origin` header names a page we trust: the console
    /// served on a loopback name or the bound host at our port, or an origin
    /// the operator allowed explicitly.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        if self
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
        {
            return true;
        }
        let Some(rest) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        let Some((host, port)) = rest.rsplit_once(':') else {
            return false;
        };
        if port.parse::<u16>().ok() != Some(self.port) {
            return false;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        is_loopback_name(host) || host.eq_ignore_ascii_case(&self.host)
    }
}

impl Access {
    /// Whether a `Host` header may reach the operator side. A DNS-rebinding
    /// page reaches us under its own DNS name, so only names we know are
    /// allowed: loopback names, IP literals, the bound host, and the hosts of
    /// allowed origins.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h,
            _ => host,
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if name.is_empty() {
            return false;
        }
        name.parse::<std::net::IpAddr>().is_ok()
            || is_loopback_name(name)
            || name.eq_ignore_ascii_case(&self.host)
            || self.allowed_origins.iter().any(|o| {
                let rest = o.split_once("://").map_or(o.as_str(), |(_, r)| r);
                let origin_host = rest.split('/').next().unwrap_or_default();
                let origin_name = origin_host.rsplit_once(':').map_or(origin_host, |(h, _)| h);
                origin_name.eq_ignore_ascii_case(name)
            })
    }
}

/// `localhost`, `127.x.y.z` or `::1`.
pub fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access {
            operator_token: Some("op-secret".into()),
            observer_token: Some("obs-secret".into()),
            agent_key: None,
            allowed_origins: vec!["https://console.example".into()],
            host: "10.0.0.5".into(),
            port: 8765,
        }
    }

    #[test]
    fn roles_follow_the_configured_tokens() {
        let a = access();
        assert_eq!(a.role_for(Some("op-secret")), Some(Role::Operator));
        assert_eq!(a.role_for(Some("obs-secret")), Some(Role::Observer));
        assert_eq!(a.role_for(Some("op-secreT")), None);
        assert_eq!(a.role_for(None), None);
        assert_eq!(Access::default().role_for(None), Some(Role::Operator));
    }

    #[test]
    fn tickets_are_single_use() {
        let t = Tickets::default();
        let ticket = t.mint(Role::Observer).unwrap();
        assert_eq!(t.redeem("nope"), None);
        assert_eq!(t.redeem(&ticket), Some(Role::Observer));
        assert_eq!(t.redeem(&ticket), None);
    }

    #[test]
    fn hosts_we_know_pass_and_rebinding_names_do_not() {
        let a = access();
        for ok in [
            "127.0.0.1:8765",
            "localhost:8765",
            "[::1]:8765",
            "10.0.0.5",
            "192.168.1.9:8765",
            "console.example",
        ] {
            assert!(a.host_allowed(ok), "{ok}");
        }
        for bad in ["evil.example:8765", "attacker.test", ""] {
            assert!(!a.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn origins_on_our_port_or_listed_are_trusted() {
        let a = access();
        assert!(a.origin_allowed("http://127.0.0.1:8765"));
        assert!(a.origin_allowed("http://localhost:8765"));
        assert!(a.origin_allowed("http://[::1]:8765"));
        assert!(a.origin_allowed("http://10.0.0.5:8765"));
        assert!(a.origin_allowed("https://console.example/"));
        assert!(!a.origin_allowed("http://127.0.0.1:9999"));
        assert!(!a.origin_allowed("http://evil.example:8765"));
        assert!(!a.origin_allowed("null"));
    }
}
