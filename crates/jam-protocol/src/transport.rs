//! The one TCP setting both ends of a Jamwire connection make, beyond `TCP_NODELAY`.
//!
//! A player's events are a thin stream: one small frame every 125 ms in a groove. When a
//! packet is lost *and so is its retransmission*, TCP is left in loss recovery with its
//! congestion window full, so nothing queued behind (the session's tail probes, the next notes)
//! may be sent to reveal the second loss; only the retransmission timeout repairs it, and
//! Linux never lets that be shorter than 200 ms. Captured on two homes with 3 % loss: a note
//! lost, its retransmission lost 0.1 ms later, ten probes and the next note queued behind it,
//! and the repair 206 ms later — a stall every listener hears, in about one run of three.
//!
//! [`retransmit_quickly`] lowers that floor for the socket to [`MIN_RTO`] (20 ms), where the
//! kernel allows it (`TCP_RTO_MIN_US`, Linux 6.15 and later; elsewhere nothing changes). The
//! timeout stays at least the smoothed round trip plus its variation, as TCP computes it, so a
//! long path keeps a long timeout; a retransmission that turns out needless costs one small
//! duplicate packet, which the other end drops.

use std::time::Duration;

/// The shortest retransmission timeout asked for.
pub const MIN_RTO: Duration = Duration::from_millis(20);

/// Set (to anything) in a process's environment, [`retransmit_quickly`] changes nothing and
/// says `false`, as on a kernel without the option: for measuring what older systems get, and
/// the spare lane (`crate::lane`) that makes up for it, on a newer one.
pub const KEEP_RTO_FLOOR_ENV: &str = "JAMWIRE_KEEP_RTO_FLOOR";

/// Asks the kernel for a [`MIN_RTO`] floor on `socket`'s retransmission timeout. Returns
/// whether it took it: `false` on kernels and systems without the option (the 200 ms floor
/// then stays) or with [`KEEP_RTO_FLOOR_ENV`] set, an error only for a socket that is not a
/// TCP socket.
#[cfg(target_os = "linux")]
pub fn retransmit_quickly<S: std::os::fd::AsFd>(socket: &S) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    if std::env::var_os(KEEP_RTO_FLOOR_ENV).is_some() {
        return Ok(false);
    }
    /// `TCP_RTO_MIN_US` from `linux/tcp.h` (not yet in the `libc` crate).
    const TCP_RTO_MIN_US: libc::c_int = 45;
    let micros = libc::c_int::try_from(MIN_RTO.as_micros()).unwrap_or(libc::c_int::MAX);
    let fd = socket.as_fd();
    // SAFETY: `fd` is a descriptor borrowed for this call; the option value is a valid
    // `c_int` that outlives the call, and its exact size is passed.
    let done = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            TCP_RTO_MIN_US,
            std::ptr::from_ref(&micros).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4),
        )
    };
    if done == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        // An older kernel: the option is unknown (or, before 6.15, out of range).
        Some(libc::ENOPROTOOPT | libc::EINVAL) => Ok(false),
        _ => Err(error),
    }
}

/// Elsewhere the system's own floor stays.
#[cfg(not(target_os = "linux"))]
pub fn retransmit_quickly<S>(_socket: &S) -> std::io::Result<bool> {
    Ok(false)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_tcp_socket_takes_the_floor_where_the_kernel_has_it_and_others_say_no() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        // On kernels before 6.15 this is `false`; either way nothing fails.
        let took = retransmit_quickly(&tcp).unwrap();
        if took {
            use std::os::fd::AsRawFd;
            let mut value: libc::c_int = 0;
            let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap();
            // SAFETY: a live socket, and a buffer of the size given.
            let read = unsafe {
                libc::getsockopt(
                    tcp.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    45,
                    std::ptr::from_mut(&mut value).cast(),
                    &mut len,
                )
            };
            assert_eq!(read, 0);
            assert_eq!(i64::from(value), 20_000, "the floor, in µs");
        }
        // A UDP socket is no TCP socket: said, not ignored.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(retransmit_quickly(&udp).is_err() || !retransmit_quickly(&udp).unwrap());
    }
}
