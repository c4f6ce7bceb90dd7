//! Unit tests of the room's rules.

use super::*;
use crate::shared::wire::FloorVerb;
use std::net::Ipv4Addr;

const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn room() -> Room {
    Room::new(RoomConfig::default())
}

fn join(room: &mut Room, name: &str) -> String {
    room.register(name, None, Some(HOME)).unwrap().token
}

fn poll(room: &mut Room, token: &str, ack: Option<u64>) -> Vec<u64> {
    let p = room.begin_receive(token, ack, None).unwrap();
    let got = room.take(&p, usize::MAX).unwrap();
    room.end_receive(&p);
    got.map(|b| b.messages.iter().map(|m| m.msg.seq).collect())
        .unwrap_or_default()
}

#[test]
fn names_are_checked() {
    assert!(check_name("project-a").is_ok());
    for bad in [
        "",
        "Human",
        " hub ",
        "all",
        "#x",
        "a\nb",
        " pad",
        &"x".repeat(65),
    ] {
        assert!(check_name(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn a_client_that_acknowledges_gets_unacked_messages_again() {
    let mut r = room();
    let a = join(&mut r, "a");
    let b = join(&mut r, "b");
    r.send(&a, "b", "one").unwrap();
    let first = poll(&mut r, &b, Some(0));
    assert_eq!(first.len(), 1);
    // Polled again without acknowledging: the same message comes back.
    assert_eq!(poll(&mut r, &b, None), first);
    // Acknowledged: nothing is left.
    assert!(poll(&mut r, &b, Some(first[0])).is_empty());
}

#[test]
fn a_client_that_never_acknowledges_sees_no_duplicates() {
    let mut r = room();
    let a = join(&mut r, "a");
    let b = join(&mut r, "b");
    r.send(&a, "b", "one").unwrap();
    assert_eq!(poll(&mut r, &b, None).len(), 1);
    assert!(poll(&mut r, &b, None).is_empty());
}

#[test]
fn a_full_queue_is_reported_not_trimmed() {
    let mut r = Room::new(RoomConfig {
        rate_limit: false,
        ..RoomConfig::default()
    });
    let a = join(&mut r, "a");
    join(&mut r, "b");
    for _ in 0..MAX_QUEUE {
        assert_eq!(r.send(&a, "b", "x").unwrap().delivered_to, ["b"]);
    }
    let sent = r.send(&a, "b", "one too many").unwrap();
    assert!(sent.delivered_to.is_empty());
    assert_eq!(sent.queue_full, ["b"]);
}

#[test]
fn the_bucket_refuses_the_sixth_quick_send() {
    let mut r = room();
    let a = join(&mut r, "a");
    for _ in 0..5 {
        r.send(&a, "all", "x").unwrap();
    }
    match r.send(&a, "all", "x") {
        Err(HubError::RateLimited(wait)) => assert!(wait > 0.0 && wait <= 2.0),
        other => panic!("expected a rate limit, got {other:?}"),
    }
}

#[test]
fn a_reaped_peer_keeps_its_mail_and_revives_with_its_token() {
    let mut r = Room::new(RoomConfig {
        client_ttl: Duration::ZERO,
        ..RoomConfig::default()
    });
    let a = join(&mut r, "a");
    let b = join(&mut r, "b");
    r.reap(Instant::now() + Duration::from_millis(5));
    assert!(r.peers().is_empty());
    assert_eq!(r.ping("b")["state"], "reaped");
    // Direct mail to a reaped peer still queues; any call revives.
    let sent = r.send(&a, "b", "while you were away").unwrap();
    assert_eq!(sent.delivered_to, ["b"]);
    let got = poll(&mut r, &b, None);
    assert!(!got.is_empty());
    assert_eq!(r.ping("b")["state"], "live");
}

#[test]
fn a_departing_holder_hands_the_stick_on() {
    let mut r = room();
    let a = join(&mut r, "a");
    let b = join(&mut r, "b");
    assert_eq!(
        r.floor(&a, &FloorVerb::Take, "all", "fire").unwrap()["ok"],
        true
    );
    let queued = r.floor(&b, &FloorVerb::Take, "all", "").unwrap();
    assert_eq!(queued["error"], "floor_held");
    assert_eq!(queued["position"], 1);
    r.leave(&a).unwrap();
    assert_eq!(r.floors()["all"]["holder"], "b");
}

#[test]
fn an_approvals_summary_is_what_runs_not_what_the_model_says() {
    use serde_json::json;
    let summary = super::chair::summary_of_for_tests;
    assert_eq!(
        summary(&json!({"command": "rm -rf /", "description": "list files"})),
        "rm -rf /"
    );
    assert_eq!(
        summary(&json!({"command": ["bash", "-lc", "curl x | sh"]})),
        "bash -lc curl x | sh"
    );
    assert_eq!(
        summary(&json!({"url": "https://example.test/"})),
        "https://example.test/"
    );
    assert_eq!(summary(&json!({"description": "only words"})), "");
}
