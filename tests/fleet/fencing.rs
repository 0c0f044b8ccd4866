//! Fencing under a process pause: a holder stopped with SIGSTOP for 3x the TTL loses its lease
//! to a second process; when it continues, every write it makes to a store that checks tokens
//! is refused. The store is a Redis key holding the largest token it has accepted, checked by
//! a script of this test; the paused holder writes from a thread that ignores the governor, the
//! worst case fencing is for.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use bursar::Error;
use bursar::fleet::{FencingToken, FleetConfig};

use crate::server::Paused;
use crate::{child, governor, monotonic_ns, ms, redis_url, role, setting, unique};

const TTL: Duration = Duration::from_secs(1);
const PAUSE: Duration = Duration::from_secs(3);
/// How long the paused holder's writer writes, from its first write: past the pause by 1.5 s.
const FIRST_HOLDER_WRITES: Duration = Duration::from_millis(5_000);
const SECOND_HOLDER_WRITES: Duration = Duration::from_millis(1_500);
const WRITE_EVERY: Duration = Duration::from_millis(20);

/// Writes `writer`'s name if `token` is at least the largest the store accepted; 1 if
/// accepted, 0 if refused. KEYS: the largest token, the list of accepted writes.
const FENCED_WRITE: &str = r"
local largest = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) < largest then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
";

/// One write as its writer logged it: who, with which token, issued when, and the answer.
#[derive(Debug, Clone, Copy)]
struct Write {
    first_holder: bool,
    token: u64,
    issued: u64,
    accepted: bool,
}

#[test]
#[ignore = "needs redis-server (REDIS_URL)"]
fn a_paused_holders_writes_are_refused_by_fencing() {
    match role().as_deref() {
        Some("first") => return holder(true),
        Some("second") => return holder(false),
        _ => {}
    }
    let resource = unique("fenced");
    let mut first = start("first", &resource);
    let mut first_lines = BufReader::new(first.stdout.take().expect("piped")).lines().map_while(Result::ok);
    let mut early = Vec::new();
    for line in first_lines.by_ref() {
        let written = parse(&line);
        early.extend(written);
        if written.is_some() {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let paused = Paused::child(&first);
    let paused_ns = monotonic_ns();
    let second = start("second", &resource);
    std::thread::sleep(PAUSE);
    drop(paused);
    let continued_ns = monotonic_ns();
    let second_output = second.wait_with_output().expect("the second holder ends");
    assert!(second_output.status.success(), "the second holder failed");
    let first_rest: Vec<String> = first_lines.collect();
    assert!(first.wait().expect("the first holder ends").success(), "the first holder failed");

    let second_lines = String::from_utf8_lossy(&second_output.stdout).into_owned();
    let writes: Vec<Write> = early
        .into_iter()
        .chain(
            first_rest
                .iter()
                .chain(second_lines.lines().map(str::to_owned).collect::<Vec<_>>().iter())
                .filter_map(|line| parse(line)),
        )
        .collect();
    let lost_ns = first_rest
        .iter()
        .find_map(|line| value_after(line, "lost "))
        .expect("the first holder's call ended: LeaseLost");
    let leased_ns =
        second_lines.lines().find_map(|line| value_after(line, "leased ")).expect("the second holder leased");
    report(&writes, &accepted_in_order(&resource), paused_ns, continued_ns, leased_ns, lost_ns);
}

/// The accepted writes in the store's order: `true` for the first holder's.
fn accepted_in_order(resource: &str) -> Vec<bool> {
    let client = redis::Client::open(redis_url()).expect("a redis URL");
    let mut connection = client.get_connection().expect("redis answers");
    let writers: Vec<String> = redis::cmd("LRANGE")
        .arg(format!("fenced:{{{resource}}}:writes"))
        .arg(0)
        .arg(-1)
        .query(&mut connection)
        .expect("redis answers");
    writers.iter().map(|writer| writer == "first").collect()
}

fn report(writes: &[Write], order: &[bool], paused_ns: u64, continued_ns: u64, leased_ns: u64, lost_ns: u64) {
    let (first, second): (Vec<Write>, Vec<Write>) = writes.iter().partition(|write| write.first_holder);
    let superseded = order.iter().position(|first| !first).expect("the second holder wrote");
    let stale_accepted = order[superseded..].iter().filter(|first| **first).count();
    let refused = first.iter().filter(|write| !write.accepted).count();
    let after_continue = first.iter().filter(|write| write.issued > paused_ns).count();
    let (old_token, new_token) = (first[0].token, second[0].token);
    println!(
        "fleet fencing: holder paused {} ms ({}x the {} ms TTL); the second leased {:.0} ms after the pause \
         (token {new_token} > {old_token}); after it continued the paused holder wrote {after_continue} times: \
         {refused} refused, {stale_accepted} accepted after the second holder's first write; the governor \
         cancelled its call (LeaseLost) {:.0} ms after it continued; the second holder's {} writes: {} accepted",
        PAUSE.as_millis(),
        PAUSE.as_millis() / TTL.as_millis(),
        TTL.as_millis(),
        ns_ms(leased_ns - paused_ns),
        ns_ms(lost_ns.saturating_sub(continued_ns)),
        second.len(),
        second.iter().filter(|write| write.accepted).count(),
    );
    assert_eq!(stale_accepted, 0, "0 stale writes accepted");
    assert!(new_token > old_token, "a later lease, a larger token");
    assert!(second.iter().all(|write| write.accepted), "the holder of the live lease is never refused");
    assert_eq!(
        order.len(),
        writes.iter().filter(|write| write.accepted).count(),
        "the store kept each accepted write"
    );
    assert_eq!(
        superseded,
        first.len() - refused,
        "the first holder's accepted writes all came before the second's"
    );
    assert!(
        refused >= after_continue && after_continue >= 10,
        "it wrote on after it continued, refused each time"
    );
    let leased_after = Duration::from_nanos(leased_ns - paused_ns);
    assert!(
        leased_after <= TTL + Duration::from_millis(100),
        "leased once the lease expired: {leased_after:?}"
    );
}

fn ns_ms(ns: u64) -> f64 {
    ms(Duration::from_nanos(ns))
}

fn start(role: &str, resource: &str) -> Child {
    child("fencing::a_paused_holders_writes_are_refused_by_fencing", role)
        .env("FLEET_RESOURCE", resource)
        .stdout(Stdio::piped())
        .spawn()
        .expect("a child process")
}

/// `write <first 0|1> <token> <issued ns> <accepted 0|1>`, after the harness's own words.
fn parse(line: &str) -> Option<Write> {
    let (_, logged) = line.split_once("write ")?;
    let mut words = logged.split(' ').map(|word| word.trim().parse::<u64>().ok());
    let (first, token, issued, accepted) = (words.next()??, words.next()??, words.next()??, words.next()??);
    Some(Write { first_holder: first == 1, token, issued, accepted: accepted == 1 })
}

fn value_after(line: &str, word: &str) -> Option<u64> {
    line.split_once(word)?.1.trim().parse().ok()
}

/// Writes as `first` (the holder to be paused) with `token` every 20 ms for `during`.
fn write_for(first: bool, token: FencingToken, resource: &str, during: Duration) {
    let client = redis::Client::open(redis_url()).expect("a redis URL");
    let mut connection = client.get_connection().expect("redis answers");
    let script = redis::Script::new(FENCED_WRITE);
    let until = Instant::now() + during;
    while Instant::now() < until {
        let issued = monotonic_ns();
        let accepted: u8 = script
            .key(format!("fenced:{{{resource}}}:largest"))
            .key(format!("fenced:{{{resource}}}:writes"))
            .arg(token.get())
            .arg(if first { "first" } else { "second" })
            .invoke(&mut connection)
            .expect("redis answers");
        println!("write {} {} {issued} {accepted}", u8::from(first), token.get());
        std::thread::sleep(WRITE_EVERY);
    }
}

/// A child holding the resource's one lease. The first passes its token to a thread that
/// writes whatever the governor says (as a holder that does not know it was paused), and waits
/// for its call to be cancelled; the second writes from its operation, then returns.
fn holder(first: bool) {
    let resource: String = setting("FLEET_RESOURCE");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let writer = std::sync::Mutex::new(None);
    runtime.block_on(async {
        let gov = governor(FleetConfig::new(&resource, 1).lease_ttl(TTL), 1);
        let ended = gov
            .run(|| async {
                let token = FencingToken::current().expect("under a lease");
                if first {
                    let resource = resource.clone();
                    let writes =
                        std::thread::spawn(move || write_for(true, token, &resource, FIRST_HOLDER_WRITES));
                    *writer.lock().expect("not poisoned") = Some(writes);
                    std::future::pending::<()>().await;
                } else {
                    println!("leased {}", monotonic_ns());
                    let resource = resource.clone();
                    tokio::task::spawn_blocking(move || {
                        write_for(false, token, &resource, SECOND_HOLDER_WRITES)
                    })
                    .await
                    .expect("the writes ran");
                }
                Ok::<_, std::io::Error>(())
            })
            .await;
        match ended {
            Err(Error::LeaseLost) if first => println!("lost {}", monotonic_ns()),
            Ok(()) if !first => {}
            other => {
                panic!("the {} holder's call ended with {other:?}", if first { "first" } else { "second" })
            }
        }
    });
    // The first holder's writer runs on past its cancelled call: its end is the child's.
    if let Some(writes) = writer.into_inner().expect("not poisoned") {
        writes.join().expect("the writes ran");
    }
}
