//! The test's private redis-server, taken down and brought back: paused with SIGSTOP and
//! continued with SIGCONT (its pid from `REDIS_PIDFILE`), or killed with SIGKILL and started
//! again with `REDIS_START`; and a child process paused the same way. Each is a guard that
//! brings the process back when dropped, so a failing test leaves nothing stopped.

use rustix::process::{Pid, Signal, kill_process};

/// The server's pid, from its pidfile: never 0, 1 or a process group.
fn server_pid() -> Pid {
    let path = std::env::var("REDIS_PIDFILE").expect("REDIS_PIDFILE names the test redis-server's pidfile");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let raw: i32 = text.trim().parse().unwrap_or_else(|_| panic!("{path} holds a pid: {text:?}"));
    assert!(raw > 1, "{path} holds {raw}, not a server's pid");
    Pid::from_raw(raw).expect("a positive pid")
}

fn signal(pid: Pid, signal: Signal) {
    kill_process(pid, signal)
        .unwrap_or_else(|error| panic!("{signal:?} to the redis-server {pid:?}: {error}"));
}

/// A process stopped with SIGSTOP (the server: its sockets stay open and nothing answers),
/// continued with SIGCONT when dropped.
#[must_use = "dropping it continues the process"]
pub(crate) struct Paused(Pid);

impl Paused {
    /// Pauses the test's redis-server.
    pub(crate) fn pause() -> Self {
        Paused::process(server_pid())
    }

    /// Pauses the child process `child` (its pid checked > 1).
    pub(crate) fn child(child: &std::process::Child) -> Self {
        let raw = i32::try_from(child.id()).expect("a pid fits an i32");
        assert!(raw > 1, "a child's pid is never {raw}");
        Paused::process(Pid::from_raw(raw).expect("a positive pid"))
    }

    fn process(pid: Pid) -> Self {
        signal(pid, Signal::STOP);
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Err(error) = kill_process(self.0, Signal::CONT) {
            eprintln!("SIGCONT to the paused process {:?} failed: {error}", self.0);
        }
    }
}

/// A server killed with SIGKILL: connections refused until it is started again, without its
/// data.
#[must_use = "dropping it starts the server again"]
pub(crate) struct Killed {
    started: bool,
}

impl Killed {
    /// Kills the server and returns once its port refuses connections (within 2 s).
    pub(crate) fn kill() -> Self {
        signal(server_pid(), Signal::KILL);
        let killed = Killed { started: false };
        let url = crate::redis_url();
        let address = url.trim_start_matches("redis://").split('/').next().expect("host:port").to_owned();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while std::net::TcpStream::connect(&address).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "the killed redis-server still accepts connections"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        killed
    }

    /// Starts the server again (`REDIS_START`) and returns once it answers.
    pub(crate) fn start(mut self) {
        self.started = true;
        start_server();
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if !self.started {
            start_server();
        }
    }
}

fn start_server() {
    let start = std::env::var("REDIS_START").expect("REDIS_START starts the test's redis-server");
    let status = std::process::Command::new("sh").args(["-c", &start]).status().expect("sh runs");
    assert!(status.success(), "{start} failed");
}
