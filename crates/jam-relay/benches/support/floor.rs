//! The floor: the least any WebSocket relay must do per event on this machine, for the bench's
//! `--compare-floor`. One thread, one `epoll` loop (mio), and per event one `read` of
//! the sender's socket, the unmasking and one frame header, and one `write` per receiver: no
//! parsing, no validation, no limits, no queues, no timers. It speaks just enough of the
//! Socket.IO dialect the bench's Socket.IO clients use (open, connect, `join`), so the same
//! clients and pacing drive it; `drum_hit` frames go unchanged to the rest of the room.
//!
//! Run by the bench as its own process (`relay-bench --floor-server`), so its CPU is its own.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tokio_tungstenite::tungstenite::{Message, accept};

struct Member {
    stream: TcpStream,
    room: usize,
    /// Bytes read and not yet a whole frame.
    partial: Vec<u8>,
}

/// Serves until the bench kills the process. Prints `listening on PORT` once it accepts.
pub fn serve() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    println!("listening on {port}");
    let mut poll = Poll::new().expect("epoll");
    let mut members: Vec<Option<Member>> = Vec::new();
    let mut rooms: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    // The bench connects and joins every client in turn before any event is sent, so each
    // one's handshake and join are done here, blocking, before the loop below serves events.
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let listener_token = Token(usize::MAX);
    let mut mio_listener = mio::net::TcpListener::from_std(listener);
    poll.registry()
        .register(&mut mio_listener, listener_token, Interest::READABLE)
        .expect("register");
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(1024);
    loop {
        poll.poll(&mut events, None).expect("poll");
        for event in &events {
            if event.token() == listener_token {
                while let Ok((stream, _)) = mio_listener.accept() {
                    let Some((stream, room_name)) = join(stream) else {
                        continue;
                    };
                    let next = names.len();
                    let room = *names.entry(room_name).or_insert(next);
                    let id = members.len();
                    let mut stream = stream;
                    poll.registry()
                        .register(&mut stream, Token(id), Interest::READABLE)
                        .expect("register");
                    members.push(Some(Member {
                        stream,
                        room,
                        partial: Vec::new(),
                    }));
                    rooms.entry(room).or_default().push(id);
                }
                continue;
            }
            let id = event.token().0;
            while let Some(Some(m)) = members.get_mut(id) {
                let n = match m.stream.read(&mut buf) {
                    Ok(0) => {
                        let _ = poll.registry().deregister(&mut m.stream);
                        members[id] = None;
                        break;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        members[id] = None;
                        break;
                    }
                };
                let room = m.room;
                m.partial.extend_from_slice(&buf[..n]);
                let mut data = std::mem::take(&mut m.partial);
                let mut at = 0;
                while let Some((payload, used)) = client_frame(&mut data[at..]) {
                    if payload.1 == 1
                        && data[at + payload.0.start..at + payload.0.end]
                            .starts_with(b"42[\"drum_hit\"")
                    {
                        out.clear();
                        server_header(&mut out, payload.0.len());
                        out.extend_from_slice(&data[at + payload.0.start..at + payload.0.end]);
                        for &other in rooms.get(&room).into_iter().flatten() {
                            if other == id {
                                continue;
                            }
                            if let Some(Some(o)) = members.get_mut(other) {
                                // A write that would block is dropped, and counts as loss in the bench (none in the
                                // runs in docs/PERFORMANCE.md): the floor keeps no queues.
                                let _ = o.stream.write(&out);
                            }
                        }
                    }
                    at += used;
                }
                data.drain(..at);
                if let Some(Some(m)) = members.get_mut(id) {
                    m.partial = data;
                }
                // A read that did not fill the buffer emptied the socket: wait for the next
                // edge instead of reading again for `EWOULDBLOCK` (as tokio does), so the floor
                // makes one `read` per event.
                if n < buf.len() {
                    break;
                }
            }
        }
    }
}

/// The WebSocket handshake and the Socket.IO open, connect and join, blocking.
fn join(stream: TcpStream) -> Option<(TcpStream, String)> {
    let std_stream = std::net::TcpStream::from(stream);
    std_stream.set_nonblocking(false).ok()?;
    std_stream.set_nodelay(true).ok()?;
    let keep = std_stream.try_clone().ok()?;
    let mut ws = accept(std_stream).ok()?;
    ws.send(Message::text(r#"0{"sid":"floor","upgrades":[],"pingInterval":600000,"pingTimeout":600000,"maxPayload":1000000}"#)).ok()?;
    let room = loop {
        let Message::Text(t) = ws.read().ok()? else {
            continue;
        };
        let t = t.as_str();
        if t == "40" {
            ws.send(Message::text(r#"40{"sid":"floor"}"#)).ok()?;
        } else if let Some(rest) = t.strip_prefix(r#"42["join",""#) {
            let room = rest.trim_end_matches("\"]").to_owned();
            ws.send(Message::text(format!(r#"42["joined","{room}"]"#)))
                .ok()?;
            break room;
        }
    };
    drop(ws);
    keep.set_nonblocking(true).ok()?;
    Some((TcpStream::from_std(keep), room))
}

/// Unmasks the first whole client frame in `data`: its payload's range and opcode, and the
/// bytes it took. None until a whole frame is there.
fn client_frame(data: &mut [u8]) -> Option<((std::ops::Range<usize>, u8), usize)> {
    let b0 = *data.first()?;
    let b1 = *data.get(1)?;
    let (len, mut at) = match b1 & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes([*data.get(2)?, *data.get(3)?])),
            4,
        ),
        127 => return None, // the bench's events are small
        n => (usize::from(n), 2),
    };
    let mask: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
    at += 4;
    let payload = data.get_mut(at..at + len)?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Some(((at..at + len, b0 & 0x0f), at + len))
}

/// A final, unmasked text frame's header for a payload of `len` bytes.
fn server_header(out: &mut Vec<u8>, len: usize) {
    out.push(0x81);
    match (u8::try_from(len), u16::try_from(len)) {
        (Ok(n), _) if n < 126 => out.push(n),
        (_, Ok(n)) => {
            out.push(126);
            out.extend_from_slice(&n.to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes());
        }
    }
}
