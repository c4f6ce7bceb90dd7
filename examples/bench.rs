//! The load driver of `smoke/bench`: measures a caucus hub from outside, over
//! loopback, and prints one table row per figure for each hub it is given.
//!
//! Usage: `bench --hub NAME=COMMAND... [--quick]` where COMMAND starts a hub
//! with `{port}` replaced by a free port, e.g.
//! `--hub "caucus=target/release/caucus hub --port {port} --no-browser --no-rate-limit --max-peers 2000"`.
//! Hubs are measured in turn, figure by figure (ours, theirs, ours, …), so
//! both see the same machine state. Plain std, a raw keep-alive HTTP/1.1
//! client and one thread per simulated peer: the driver is never the
//! bottleneck of a long-poll hub.

#[path = "support/http.rs"]
mod http;

use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    addr: String,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: &str) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn {
            addr: addr.to_string(),
            reader: BufReader::new(s),
        })
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let (status, body) =
            http::exchange(&mut self.reader, &self.addr, method, path, auth, body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// Pulls `"key": value` (a string or a number) out of a flat JSON text
/// without a JSON parser: the driver stays light and the formats are fixed.
fn field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        return s.split('"').next();
    }
    let end = rest.find([',', '}', ']']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// All `"seq": N` values in a /receive answer.
fn seqs(json: &str) -> Vec<u64> {
    json.match_indices("\"seq\":")
        .filter_map(|(i, _)| {
            let rest = json[i + 6..].trim_start();
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
        .collect()
}

struct Hub {
    /// The hub process, or `None` for one we attached to (`attach:PID@ADDR`,
    /// for profiling a hub started by hand).
    child: Option<Child>,
    pid: u32,
    addr: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts a hub and waits for its first 200 from /version; returns it and
/// the time from spawn to that answer.
fn start(command: &str) -> (Hub, Duration) {
    if let Some(spec) = command.strip_prefix("attach:") {
        let (pid, addr) = spec.split_once('@').expect("attach:PID@ADDR");
        let hub = Hub {
            child: None,
            pid: pid.parse().expect("a pid"),
            addr: addr.to_string(),
        };
        return (hub, Duration::ZERO);
    }
    let port = free_port();
    let mut cmd = command.replace("{port}", &port.to_string());
    if cmd.contains("{dir}") {
        // A fresh data directory for each start (durability figures).
        let dir = std::env::temp_dir().join(format!("caucus-bench-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        cmd = cmd.replace("{dir}", &dir.display().to_string());
    }
    let mut words = cmd.split_whitespace();
    let program = words.next().expect("a command");
    let t0 = Instant::now();
    let child = Command::new(program)
        .args(words)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the hub");
    let addr = format!("127.0.0.1:{port}");
    let deadline = t0 + Duration::from_secs(60);
    loop {
        if let Ok(mut c) = Conn::open(&addr)
            && let Ok((200, _)) = c.request("GET", "/version", None, "")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the hub never answered: {cmd}");
        thread::sleep(Duration::from_micros(500));
    }
    let up = t0.elapsed();
    let pid = child.id();
    (
        Hub {
            child: Some(child),
            pid,
            addr,
        },
        up,
    )
}

fn proc_field(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_mib(pid: u32) -> f64 {
    proc_field(pid, "status", "VmRSS:") as f64 / 1024.0
}

fn threads(pid: u32) -> u64 {
    proc_field(pid, "status", "Threads:")
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

fn register(c: &mut Conn, name: &str) -> String {
    let (status, body) = c
        .request(
            "POST",
            "/register",
            None,
            &format!("{{\"project\":\"{name}\",\"protocol_version\":1}}"),
        )
        .expect("register");
    assert_eq!(status, 200, "register {name}: {body}");
    field(&body, "token").expect("a token").to_string()
}

fn send(c: &mut Conn, token: &str, to: &str, content: &str) -> u16 {
    c.request(
        "POST",
        "/send",
        None,
        &format!("{{\"token\":\"{token}\",\"to\":\"{to}\",\"content\":\"{content}\"}}"),
    )
    .map(|(s, _)| s)
    .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Figure 3 (and 5's extra peer): a listener long-polls and acks; each
/// message is sent only after the previous one woke it.
fn send_to_wake(addr: &str, n: usize, a: &str, b: &str, prefix: &str) -> Vec<f64> {
    let mut sender = Conn::open(addr).expect("connect");
    let ta = register(&mut sender, a);
    let tb = register(&mut sender, b);
    let (tx, rx) = mpsc::channel::<Instant>();
    let addr_l = addr.to_string();
    let listener = thread::spawn(move || {
        let mut c = Conn::open(&addr_l).expect("connect");
        let mut ack = 0u64;
        let mut got = 0;
        while got < n {
            let (status, body) = c
                .request(
                    "GET",
                    &format!("/receive?timeout=25&ack_seq={ack}"),
                    Some(&tb),
                    "",
                )
                .expect("receive");
            let at = Instant::now();
            assert_eq!(status, 200, "{body}");
            let s = seqs(&body);
            if let Some(max) = s.iter().max() {
                ack = ack.max(*max);
            }
            let count = body.matches("\"kind\":\"message\"").count();
            for _ in 0..count {
                got += 1;
                let _ = tx.send(at);
            }
        }
    });
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        assert_eq!(send(&mut sender, &ta, b, &format!("{prefix}{i}")), 200);
        let woke = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the listener woke");
        samples.push(woke.saturating_duration_since(t0).as_secs_f64() * 1000.0);
    }
    listener.join().expect("listener");
    samples.sort_by(f64::total_cmp);
    samples
}

/// Figure 4: 4 senders broadcast for `secs`, 16 peers long-poll and ack.
fn throughput(hub: &Hub, secs: f64) -> (f64, f64) {
    let addr = hub.addr.clone();
    let mut c = Conn::open(&addr).expect("connect");
    let listeners: Vec<String> = (0..16)
        .map(|i| register(&mut c, &format!("l{i}")))
        .collect();
    let senders: Vec<String> = (0..4).map(|i| register(&mut c, &format!("s{i}"))).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(Barrier::new(21));
    let mut handles = Vec::new();
    for token in listeners {
        let (addr, stop, counting, delivered, ready) = (
            addr.clone(),
            stop.clone(),
            counting.clone(),
            delivered.clone(),
            ready.clone(),
        );
        handles.push(thread::spawn(move || {
            let mut c = Conn::open(&addr).expect("connect");
            let mut ack = 0u64;
            ready.wait();
            while !stop.load(Ordering::Relaxed) {
                let Ok((200, body)) = c.request(
                    "GET",
                    &format!("/receive?timeout=1&ack_seq={ack}"),
                    Some(&token),
                    "",
                ) else {
                    continue;
                };
                let s = seqs(&body);
                if let Some(max) = s.iter().max() {
                    ack = ack.max(*max);
                }
                let n = body.matches("\"kind\":\"message\"").count() as u64;
                if counting.load(Ordering::Relaxed) {
                    delivered.fetch_add(n, Ordering::Relaxed);
                }
            }
        }));
    }
    for token in senders {
        let (addr, stop, ready) = (addr.clone(), stop.clone(), ready.clone());
        handles.push(thread::spawn(move || {
            let mut c = Conn::open(&addr).expect("connect");
            ready.wait();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                send(&mut c, &token, "all", &format!("m{i}"));
                i += 1;
            }
        }));
    }
    ready.wait();
    thread::sleep(Duration::from_millis(500)); // warm-up, not counted
    let cpu0 = cpu_seconds(hub.pid);
    let t0 = Instant::now();
    counting.store(true, Ordering::Relaxed);
    thread::sleep(Duration::from_secs_f64(secs));
    counting.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(hub.pid) - cpu0;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let n = delivered.load(Ordering::Relaxed) as f64;
    (
        n / elapsed,
        if n > 0.0 {
            cpu / n * 10_000.0
        } else {
            f64::NAN
        },
    )
}

/// Figure 5: `n` peers each hold a long-poll; returns (answered, RSS MiB,
/// threads, extra peer's median send-to-wake ms).
fn held_polls(hub: &Hub, n: usize) -> (usize, f64, u64, f64) {
    let addr = hub.addr.clone();
    let mut c = Conn::open(&addr).expect("connect");
    let tokens: Vec<String> = (0..n).map(|i| register(&mut c, &format!("p{i}"))).collect();
    let (tx, rx) = mpsc::channel::<bool>();
    let mut handles = Vec::new();
    for token in tokens {
        let (addr, tx) = (addr.clone(), tx.clone());
        let h = thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || {
                let mut c = Conn::open(&addr).expect("connect");
                // Poll until the wake-up broadcast arrives (a 25 s poll may end
                // empty on a slow hub; it polls again).
                for _ in 0..4 {
                    if let Ok((200, body)) =
                        c.request("GET", "/receive?timeout=25", Some(&token), "")
                        && body.contains("wake-all")
                    {
                        let _ = tx.send(true);
                        return;
                    }
                }
                let _ = tx.send(false);
            })
            .expect("a poll thread");
        handles.push(h);
    }
    // Wait until every poll is held, by asking the hub.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let listening = (0..n)
            .filter(|i| {
                c.request("GET", &format!("/ping?peer=p{i}"), None, "")
                    .map(|(_, b)| b.contains("\"listening\":true"))
                    .unwrap_or(false)
            })
            .count();
        if listening == n || Instant::now() > deadline {
            break;
        }
    }
    let rss = rss_mib(hub.pid);
    let nthreads = threads(hub.pid);
    let wake = send_to_wake(&addr, 20, "extra-a", "extra-b", "x");
    let ta = register(&mut c, "waker");
    assert_eq!(send(&mut c, &ta, "all", "wake-all"), 200);
    let answered = rx.iter().take(n).filter(|ok| *ok).count();
    for h in handles {
        let _ = h.join();
    }
    (answered, rss, nthreads, percentile(&wake, 0.5))
}

fn main() {
    let mut hubs: Vec<(String, String)> = Vec::new();
    let mut quick = false;
    let mut only: Option<u32> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--hub" => {
                let spec = args.next().expect("--hub NAME=COMMAND");
                let (name, cmd) = spec.split_once('=').expect("--hub NAME=COMMAND");
                hubs.push((name.to_string(), cmd.to_string()));
            }
            "--quick" => quick = true,
            "--only" => only = args.next().and_then(|v| v.parse().ok()),
            other => panic!("unknown argument {other}"),
        }
    }
    let (messages, secs, polls) = if quick {
        (300, 3.0, 200)
    } else {
        (2000, 10.0, 1000)
    };
    // Each figure: its name, one number per hub, the unit, and whether
    // higher is better (for the ratio, always "how many times better the
    // first hub is").
    let mut rows: Vec<(String, Vec<f64>, &str, bool)> = Vec::new();
    let mut push = |figure: String, values: Vec<f64>, unit: &'static str, higher_better: bool| {
        println!("{figure}: {values:?} {unit}");
        rows.push((figure, values, unit, higher_better));
    };

    let run = |n: u32| only.is_none_or(|o| o == n);
    if run(1) {
        let idle = hubs
            .iter()
            .map(|(_, cmd)| {
                let (hub, _) = start(cmd);
                thread::sleep(Duration::from_secs(1)); // let it settle: this is the idle figure
                rss_mib(hub.pid)
            })
            .collect();
        push("1. idle resident memory".into(), idle, "MiB", false);
    }
    if run(2) {
        let startup = hubs
            .iter()
            .map(|(_, cmd)| {
                let mut t: Vec<f64> = (0..5)
                    .map(|_| start(cmd).1.as_secs_f64() * 1000.0)
                    .collect();
                t.sort_by(f64::total_cmp);
                t[2]
            })
            .collect();
        push(
            "2. start to first 200 (median of 5)".into(),
            startup,
            "ms",
            false,
        );
    }
    if run(3) {
        let (mut p50, mut p99) = (Vec::new(), Vec::new());
        for (_, cmd) in &hubs {
            let (hub, _) = start(cmd);
            let s = send_to_wake(&hub.addr, messages, "a", "b", "m");
            p50.push(percentile(&s, 0.5));
            p99.push(percentile(&s, 0.99));
        }
        push(
            format!("3. send-to-wake p50, {messages} messages"),
            p50,
            "ms",
            false,
        );
        push(
            format!("3. send-to-wake p99, {messages} messages"),
            p99,
            "ms",
            false,
        );
    }
    if run(4) {
        let (mut rate, mut cpu) = (Vec::new(), Vec::new());
        for (_, cmd) in &hubs {
            let (hub, _) = start(cmd);
            let (r, c) = throughput(&hub, secs);
            rate.push(r);
            cpu.push(c);
        }
        push(
            format!("4. delivered/s, 4 senders to 16 peers, {secs:.0} s"),
            rate,
            "msg/s",
            true,
        );
        push(
            "4. hub CPU per 10,000 deliveries".into(),
            cpu,
            "CPU s",
            false,
        );
    }
    if run(5) {
        let (mut answered, mut mem, mut thr, mut extra) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (_, cmd) in &hubs {
            let (hub, _) = start(cmd);
            let (a, m, t, w) = held_polls(&hub, polls);
            answered.push(a as f64);
            mem.push(m);
            thr.push(t as f64);
            extra.push(w);
        }
        push(
            format!("5. {polls} held polls: answered"),
            answered,
            "polls",
            true,
        );
        push("5. resident memory while held".into(), mem, "MiB", false);
        push("5. threads while held".into(), thr, "threads", false);
        push(
            "5. send-to-wake of one more peer, p50".into(),
            extra,
            "ms",
            false,
        );
    }

    println!();
    let names: Vec<&str> = hubs.iter().map(|(n, _)| n.as_str()).collect();
    let ratio = names.len() == 2;
    println!(
        "| figure | {} |{}",
        names.join(" | "),
        if ratio { " ratio |" } else { "" }
    );
    println!(
        "|---|{}{}",
        "---|".repeat(names.len()),
        if ratio { "---|" } else { "" }
    );
    for (figure, values, unit, higher_better) in rows {
        let shown: Vec<String> = values
            .iter()
            .map(|v| {
                if *v >= 100.0 || v.fract() == 0.0 {
                    format!("{v:.0} {unit}")
                } else {
                    format!("{v:.2} {unit}")
                }
            })
            .collect();
        // A thread count is a design choice (a thread per held poll), not a
        // score: no ratio.
        let r = if ratio && unit != "threads" && values[0] > 0.0 && values[1] > 0.0 {
            let x = if higher_better {
                values[0] / values[1]
            } else {
                values[1] / values[0]
            };
            format!(" {x:.1}× |")
        } else if ratio {
            " – |".to_string()
        } else {
            String::new()
        };
        println!("| {figure} | {} |{r}", shown.join(" | "));
    }
}
