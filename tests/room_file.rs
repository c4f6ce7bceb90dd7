//! `caucus up ROOM.toml` convenes every seat of a room file on the hub's
//! launcher, starting a local hub when none answers, and `caucus down`
//! dismisses them.

#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use common::Hub;
use serde_json::Value;

fn seats(hub: &Hub) -> Vec<Value> {
    let bearer = format!("Bearer {}", hub.operator().unwrap());
    let r = hub.request("GET", "/agents", &[("Authorization", &bearer)], b"");
    r.json()["agents"].as_array().cloned().unwrap_or_default()
}

fn room_file(folder: &std::path::Path, body: &str) -> std::path::PathBuf {
    let path = folder.join("room.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn up_convenes_the_files_seats_and_down_dismisses_them() {
    let (bin, folder) = common::standins("room");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let hub = Hub::start_with_env(&[], &[("PATH", &path)]);
    let file = room_file(
        &folder,
        "[defaults]\nruntime = \"claude\"\ncwd = \".\"\n\n[[seat]]\nname = \"planner\"\n\n\
         [[seat]]\nname = \"critic\"\nruntime = \"codex\"\n",
    );
    let up = common::caucus()
        .args(["up", file.to_str().unwrap(), "--hub", &hub.url()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&up.stdout);
    assert_eq!(
        up.status.code(),
        Some(0),
        "{said} {}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(said.contains("planner: started (claude"), "{said}");
    assert!(said.contains("critic: started (codex"), "{said}");
    hub.wait_for_peer("planner", |p| p["listening"] == true);
    hub.wait_for_peer("critic", |p| p["listening"] == true);
    let running = seats(&hub);
    assert_eq!(running.len(), 2);
    let folder = folder.canonicalize().unwrap();
    assert!(
        running
            .iter()
            .all(|s| s["cwd"] == folder.display().to_string())
    );
    // A second up: the seats run, so each is refused, and it says so.
    let again = common::caucus()
        .args(["up", file.to_str().unwrap(), "--hub", &hub.url()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("planner: "));

    let down = common::caucus()
        .args(["down", file.to_str().unwrap(), "--hub", &hub.url()])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(0), "{down:?}");
    assert!(String::from_utf8_lossy(&down.stdout).contains("critic: stopped"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while seats(&hub).iter().any(|s| s["state"] != "stopped") {
        assert!(Instant::now() < deadline, "{:?}", seats(&hub));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(hub.peers().is_empty(), "{:?}", hub.peers());
}

#[test]
fn up_starts_a_local_hub_when_none_answers() {
    let (_, folder) = common::standins("room-hub");
    let url = common::dead_url();
    let file = room_file(
        &folder,
        "[[seat]]\nname = \"echo\"\nruntime = \"command\"\ncommand = \"cat > /dev/null\"\n",
    );
    let up = common::caucus()
        .args(["up", file.to_str().unwrap(), "--hub", &url])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&up.stdout).to_string();
    let pid: i32 = said
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the hub's pid is said: {said}"));
    let outcome = std::panic::catch_unwind(|| {
        assert_eq!(
            up.status.code(),
            Some(0),
            "{said} {}",
            String::from_utf8_lossy(&up.stderr)
        );
        assert!(said.contains(&format!("started a hub on {url}")), "{said}");
        assert!(said.contains("#ticket="), "the console's link: {said}");
        assert!(said.contains("echo: started (command"), "{said}");
        // Its seat is stopped through the hub with the token it keeps.
        let port = url.rsplit(':').next().unwrap();
        let token = std::fs::read_to_string(
            common::state_dir()
                .join("operator")
                .join(format!("{port}.token")),
        )
        .expect("the started hub keeps its operator token");
        let stopped = ureq::delete(format!("{url}/agents/echo"))
            .header("Authorization", format!("Bearer {}", token.trim()))
            .call()
            .unwrap()
            .status();
        assert_eq!(stopped, 200);
    });
    // The hub this test made it start: ended by its id, with its seat.
    // SAFETY: kill only sends a signal, to the process this test started.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}
