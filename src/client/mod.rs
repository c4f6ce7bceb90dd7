//! `HubClient`: the hub's HTTP API over ureq, for the bridge and the watcher.
//!
//! It speaks JSON and reports three things: the status, the JSON body, or that
//! the hub could not be reached. What a status means is the caller's business;
//! this module knows nothing of MCP or exit codes.

pub mod approval;
pub mod join;
pub mod poll;
pub mod verbs;

pub use poll::{Listener, Received};
pub use verbs::CallError;

use std::time::Duration;

use serde_json::Value;

/// How long a quick call may take before the hub counts as unreachable.
const QUICK: Duration = Duration::from_secs(15);

/// A hub answer: status and JSON body (`Null` when the body was empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// A client of one hub.
#[derive(Clone)]
pub struct HubClient {
    agent: ureq::Agent,
    base: String,
    /// The hub's agent key (`CAUCUS_AGENT_KEY`), presented to the agent
    /// door: `/register` and `/mcp`.
    agent_key: Option<String>,
    /// The hub's own key, when the hub's `/mcp` tools call it back.
    internal_key: Option<String>,
}

/// The port of a hub URL on a loopback host (`localhost`, 127.0.0.1, ::1),
/// where this machine's hub keeps its local secrets by port.
pub fn loopback_port(url: &str) -> Option<u16> {
    let authority = url.split_once("://")?.1.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback.then(|| port.parse().ok()).flatten()
}

/// Checks a hub URL and returns it without a trailing `/`.
///
/// Plain `http` to a host that is not loopback would carry tokens in clear
/// across the network: it is refused unless `allow_remote` is set.
pub fn check_hub_url(url: &str, allow_remote: bool) -> Result<String, String> {
    let base = url.trim().trim_end_matches('/');
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| format!("hub URL {url:?} must start with http:// or https://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    if host.is_empty() {
        return Err(format!("hub URL {url:?} names no host"));
    }
    match scheme {
        "http" => {
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback && !allow_remote {
                return Err(format!(
                    "refusing plain http to {host}: tokens would cross the network in clear. \
                     Use https, or set CAUCUS_ALLOW_REMOTE_HUB=1 on a trusted network"
                ));
            }
        }
        "https" if cfg!(feature = "tls") => {}
        "https" => {
            return Err(
                "this caucus was built without TLS; rebuild with `--features tls` for https hubs"
                    .into(),
            );
        }
        _ => {
            return Err(format!(
                "hub URL {url:?} must start with http:// or https://"
            ));
        }
    }
    Ok(base.to_string())
}

/// The hub to use: the `--hub` flag, else `CAUCUS_HUB_URL`, else the local
/// default; checked by [`check_hub_url`] with `CAUCUS_ALLOW_REMOTE_HUB`.
pub fn hub_url(flag: Option<String>) -> Result<String, String> {
    let url = flag
        .or_else(|| std::env::var("CAUCUS_HUB_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8765".into());
    check_hub_url(&url, env_flag("CAUCUS_ALLOW_REMOTE_HUB"))
}

/// Whether an environment flag is set to a true value (`1`, `true`, `yes`, `on`).
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

impl HubClient {
    /// A client for the hub at `base` (already checked by [`check_hub_url`]).
    pub fn new(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        // A hub on this machine's loopback knows its own clients by the
        // local key it keeps: they never share the registration bucket.
        let key = loopback_port(base).and_then(crate::shared::identity::kept_local_key);
        HubClient::with_keys(base, key)
    }

    /// A client the hub makes to call itself back (its `/mcp` tools),
    /// presenting `key`, the hub's own, read from nowhere.
    pub fn for_hub_itself(base: &str, key: &str) -> Self {
        HubClient::with_keys(base.trim_end_matches('/'), Some(key.to_string()))
    }

    fn with_keys(base: &str, internal_key: Option<String>) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(QUICK))
            .user_agent(concat!("caucus/", env!("CARGO_PKG_VERSION")))
            .build();
        HubClient {
            agent: config.into(),
            base: base.to_string(),
            agent_key: std::env::var("CAUCUS_AGENT_KEY")
                .ok()
                .filter(|k| !k.trim().is_empty()),
            internal_key,
        }
    }

    /// The same client presenting `key` at the agent door instead.
    pub fn with_agent_key(mut self, key: Option<&str>) -> Self {
        self.agent_key = key.map(str::to_string);
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`, with a bearer token and a deadline of its own when given.
    pub fn get(
        &self,
        path: &str,
        bearer: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Answer, String> {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(token) = bearer {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        let req = match timeout {
            Some(t) => req.config().timeout_global(Some(t)).build(),
            None => req,
        };
        Self::finish(req.call())
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Answer, String> {
        self.post_as(path, body, None)
    }

    /// `POST path` with a JSON body and a deadline of its own (a long wait).
    pub fn post_timeout(
        &self,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .config()
            .timeout_global(Some(timeout))
            .build();
        Self::finish(req.send(body.to_string().as_bytes()))
    }

    /// `POST path` with a JSON body and, when given, a bearer token.
    pub fn post_as(
        &self,
        path: &str,
        body: &Value,
        bearer: Option<&str>,
    ) -> Result<Answer, String> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        let door = path == "/register" || path.starts_with("/mcp");
        let bearer = bearer.or(self.agent_key.as_deref().filter(|_| door));
        if let Some(token) = bearer {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(key) = self.internal_key.as_deref().filter(|_| door) {
            req = req.header("X-Caucus-Internal", key);
        }
        Self::finish(req.send(body.to_string().as_bytes()))
    }

    /// `DELETE path`, with a bearer token when given.
    pub fn delete_as(&self, path: &str, bearer: Option<&str>) -> Result<Answer, String> {
        let mut req = self.agent.delete(format!("{}{path}", self.base));
        if let Some(token) = bearer {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        Self::finish(req.call())
    }

    fn finish(
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, String> {
        let mut resp = result.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("reading the hub's answer: {e}"))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| {
                format!("the hub answered HTTP {status} with a body that is not JSON")
            })?
        };
        Ok(Answer { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_urls_are_checked() {
        assert_eq!(
            check_hub_url("http://127.0.0.1:8765/", false).unwrap(),
            "http://127.0.0.1:8765"
        );
        assert!(check_hub_url("http://localhost:1", false).is_ok());
        assert!(check_hub_url("http://[::1]:1", false).is_ok());
        assert!(check_hub_url("http://10.0.0.2:8765", false).is_err());
        assert!(check_hub_url("http://10.0.0.2:8765", true).is_ok());
        assert!(check_hub_url("ftp://x", true).is_err());
        assert!(check_hub_url("127.0.0.1:8765", false).is_err());
        assert!(check_hub_url("http://", false).is_err());
    }
}
