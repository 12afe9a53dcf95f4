//! Minimal liveness probes over `std::net`: a TCP connect and an HTTP/1.1 GET.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result};

/// Per-probe connect, read and write timeout; the stack is local, so this is generous.
const TIMEOUT: Duration = Duration::from_secs(2);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub(super) fn tcp_answers(port: u16) -> bool {
    TcpStream::connect_timeout(&addr(port), TIMEOUT).is_ok()
}

/// Sends `GET path` to 127.0.0.1:`port` and returns the response status code.
pub(super) fn http_get_status(port: u16, path: &str) -> Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr(port), TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )?;
    // Only the status line matters: read until it is complete, then drop the connection.
    let mut head = Vec::new();
    let mut buf = [0_u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    // "HTTP/1.1 200 OK"
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP response: {head:?}"))
}
