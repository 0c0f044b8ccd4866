//! Live instances on the real server: three governors in three processes count three, the
//! others see the one killed with SIGKILL gone within one TTL, and one that shuts down at their
//! next heartbeat.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bursar::fleet::FleetConfig;

use crate::{child, governor, monotonic_ns, ms, redis_url, role, setting, unique};

const TTL: Duration = Duration::from_secs(1);
const PROCESSES: usize = 3;

/// What a child said: its index, and the live instances its status shows from an instant on
/// (`None`: it has left, at that instant).
type Said = (usize, Option<u32>, u64);

#[test]
#[ignore = "needs redis-server (REDIS_URL)"]
fn live_instances_count_the_governors_that_beat() {
    if role().as_deref() == Some("instance") {
        return instance();
    }
    let resource = unique("instances");
    let (said, heard) = mpsc::channel();
    let mut children: Vec<Child> = (0..PROCESSES).map(|index| start(&resource, index, &said)).collect();
    let mut children_say = Listener { heard, seen: [None; PROCESSES] };
    children_say.wait_for(|seen| (0..PROCESSES).all(|index| seen[index] == Some(Some(3))));
    println!("fleet instances: {PROCESSES} processes each saw {PROCESSES} live instances");

    children[0].kill().expect("SIGKILL");
    let killed_ns = monotonic_ns();
    children[0].wait().expect("reaped");
    let gone_ns = redis_drops_to(&resource, 2);
    let survivors_ns = children_say.wait_for(|seen| seen[1] == Some(Some(2)) && seen[2] == Some(Some(2)));
    let (in_redis, seen) = (gone_ns - killed_ns, survivors_ns - killed_ns);

    drop(children[1].stdin.take());
    let left_ns = children_say.wait_for(|seen| seen[1] == Some(None));
    let last_ns = children_say.wait_for(|seen| seen[2] == Some(Some(1)));
    let after_leaving = last_ns.saturating_sub(left_ns);
    drop(children[2].stdin.take());
    for mut child in children.drain(1..) {
        assert!(child.wait().expect("the child ends").success());
    }
    println!(
        "fleet instances: one of {PROCESSES} killed with SIGKILL: Redis dropped it {:.0} ms after the kill \
         (lease TTL {} ms; an instance counts two thirds of it), both survivors saw 2 after {:.0} ms; one shut down and the last saw 1 {:.0} ms \
         after it left",
        ns_ms(in_redis),
        TTL.as_millis(),
        ns_ms(seen),
        ns_ms(after_leaving)
    );
    // An instance counts for two heartbeat periods after its last heartbeat; the others see it
    // gone at their next one.
    let renewal = TTL / 3;
    let slack = Duration::from_millis(50);
    assert!(Duration::from_nanos(in_redis) <= 2 * renewal + slack, "expired in Redis: {in_redis} ns");
    assert!(Duration::from_nanos(seen) <= TTL + slack, "seen gone within one TTL: {seen} ns");
    assert!(
        Duration::from_nanos(after_leaving) <= renewal + slack,
        "a leaver counts no more: {after_leaving} ns"
    );
}

fn ns_ms(ns: u64) -> f64 {
    ms(Duration::from_nanos(ns))
}

/// Starts child `index`, whose lines go to `said`.
fn start(resource: &str, index: usize, said: &mpsc::Sender<Said>) -> Child {
    let mut process = child("instances::live_instances_count_the_governors_that_beat", "instance")
        .env("FLEET_RESOURCE", resource)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("a child process");
    let lines = BufReader::new(process.stdout.take().expect("piped")).lines();
    let said = said.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Some(heard) = parse(index, &line) {
                let _ = said.send(heard);
            }
        }
    });
    process
}

/// A child's line: `live <n> <ns>` or `left <ns>`, after the harness's own words.
fn parse(index: usize, line: &str) -> Option<Said> {
    if let Some((_, left)) = line.split_once("left ") {
        return Some((index, None, left.trim().parse().ok()?));
    }
    let (_, live) = line.split_once("live ")?;
    let (count, at) = live.trim().split_once(' ')?;
    Some((index, Some(count.parse().ok()?), at.parse().ok()?))
}

/// What the children said last: each one's live instances (`None` once it left).
struct Listener {
    heard: mpsc::Receiver<Said>,
    seen: [Option<Option<u32>>; PROCESSES],
}

impl Listener {
    /// Reads what the children say until `done` holds of the last thing each said; the
    /// instant of the line that made it hold. Within 5 s.
    fn wait_for(&mut self, done: impl Fn(&[Option<Option<u32>>; PROCESSES]) -> bool) -> u64 {
        loop {
            let (index, live, at) =
                self.heard.recv_timeout(Duration::from_secs(5)).expect("the children say what they see");
            self.seen[index] = Some(live);
            if done(&self.seen) {
                return at;
            }
        }
    }
}

/// Reads the resource's live instances in Redis (by the server's clock) every 2 ms until
/// there are `live`; the instant it saw them.
fn redis_drops_to(resource: &str, live: u64) -> u64 {
    let client = redis::Client::open(redis_url()).expect("a redis URL");
    let mut connection = client.get_connection().expect("redis answers");
    let key = format!("bursar:{{{resource}}}:instances");
    loop {
        let (seconds, micros): (u64, u64) = redis::cmd("TIME").query(&mut connection).expect("redis answers");
        let now_ms = seconds * 1000 + micros / 1000;
        let count: u64 = redis::cmd("ZCOUNT")
            .arg(&key)
            .arg(format!("({now_ms}"))
            .arg("+inf")
            .query(&mut connection)
            .expect("redis answers");
        if count == live {
            return monotonic_ns();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A child: a governor with the fleet resource and no call at all; prints the live instances
/// its status shows each time they change, until its stdin closes; then shuts down.
fn instance() {
    let resource: String = setting("FLEET_RESOURCE");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let gov = governor(FleetConfig::new(resource, 4).lease_ttl(TTL), 1);
        let (closed, mut stdin_closed) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            let _ = closed.send(());
        });
        let mut shown = None;
        while stdin_closed.try_recv().is_err() {
            let live = gov.status().fleet.expect("a fleet section").live_instances;
            if live != shown {
                shown = live;
                if let Some(live) = live {
                    println!("live {live} {}", monotonic_ns());
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        gov.shutdown(Duration::from_secs(1)).await;
        println!("left {}", monotonic_ns());
    });
}
