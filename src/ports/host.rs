//! The host check: does another process on this machine already listen on a port?
//!
//! The probe binds a listener on 127.0.0.1 and closes it at once, before the lease is handed
//! out. It sees listeners on the loopback address and on `0.0.0.0`; Rust's `bind` sets
//! `SO_REUSEADDR` on Unix, as most servers do, so connections lingering in `TIME_WAIT` do not
//! count. It cannot see a listener bound only to another interface's address, and the port
//! can still be taken between the probe and its use: the check narrows that window, it
//! cannot close it.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener};

/// True if binding `port` on loopback fails because the address is in use.
///
/// Any other failure (no permission for a port below 1024, no loopback interface) says
/// nothing about other processes, so the port counts as free rather than a broken environment
/// turning every allocation into an error.
pub(crate) fn is_in_use(port: u16) -> bool {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(_probe) => false,
        Err(error) if error.kind() == ErrorKind::AddrInUse => true,
        Err(error) => {
            tracing::debug!(target: "bursar::ports", port, %error, "host check inconclusive; port counted as free");
            false
        }
    }
}
