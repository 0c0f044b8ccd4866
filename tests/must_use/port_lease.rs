//! A port lease dropped unused is an error: the port would be released at once.
#![deny(unused_must_use)]

fn main() {
    let ports = bursar::ports::PortAllocator::new(&bursar::ports::PortsConfig::default()).unwrap();
    ports.allocate("vnc").unwrap();
}
