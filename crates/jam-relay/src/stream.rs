//! A connection's byte stream split so that the relay writes its encoded frames
//! ([`crate::wire`]) itself while tungstenite reads.
//!
//! tungstenite stays the WebSocket implementation for the handshake and for reading. It also
//! writes now and then by itself: a pong for each ping, the reply to a client's close. Those
//! writes go through [`Wired`]'s writing side into the connection's outlet, queued in order
//! behind whatever waits there, so the byte stream stays a sequence of whole frames:
//! - tungstenite hands over whole frames, and the outlet takes all of a write or none of it
//!   (when its queue is full the write waits, and tungstenite keeps its pong to retry);
//! - once a close frame is queued, from either side, nothing more is written (RFC 6455 §5.5.1).

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::outlet::{Outlet, TryWrite};
use crate::web::Rewind;
use crate::wire::Frame;

/// A connection's stream cut into a reading and a writing half, so that tungstenite reads
/// while the outlet writes. A plain TCP socket splits into its own two halves, which share
/// nothing; any other stream (TLS, the tests' in-memory pipes) goes through
/// `tokio::io::split`, whose halves take a lock on every read and write.
pub(crate) trait Split: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The reading half.
    type Read: AsyncRead + Unpin + Send + 'static;
    /// The writing half.
    type Write: AsyncWrite + TryWrite + Unpin + Send + 'static;
    /// Cuts the stream in two.
    fn split(self) -> (Self::Read, Self::Write);
}

impl Split for Rewind<TcpStream> {
    type Read = Rewind<OwnedReadHalf>;
    type Write = OwnedWriteHalf;
    fn split(self) -> (Self::Read, Self::Write) {
        let (head, stream) = self.into_parts();
        let (read, write) = stream.into_split();
        (Rewind::from_parts(head, read), write)
    }
}

/// Halves behind tokio's lock, for streams that can't be split any other way.
macro_rules! split_with_lock {
    ($($stream:ty),* $(,)?) => {$(
        impl Split for $stream {
            type Read = ReadHalf<$stream>;
            type Write = WriteHalf<$stream>;
            fn split(self) -> (Self::Read, Self::Write) {
                tokio::io::split(self)
            }
        }
    )*};
}

split_with_lock!(
    Rewind<tokio_rustls::server::TlsStream<TcpStream>>,
    DuplexStream,
);

/// The byte stream tungstenite runs over: the connection's reading half, and a writing side
/// that is the socket itself during the handshake and the connection's outlet after it.
pub(crate) struct Wired<S: Split> {
    read: S::Read,
    write: WriteSide<S::Write>,
}

enum WriteSide<W> {
    /// During the handshake: tungstenite writes its response to the socket.
    Direct(W),
    /// After it: tungstenite's frames go into the outlet, in order with the relay's.
    Outlet(Arc<Outlet<W>>),
    /// Between the two (never written to).
    Moving,
}

impl<S: Split> Wired<S> {
    pub(crate) fn new(stream: S) -> Wired<S> {
        let (read, write) = stream.split();
        Wired {
            read,
            write: WriteSide::Direct(write),
        }
    }

    /// Takes the socket's writing half, for the connection's outlet (once, after the handshake).
    pub(crate) fn take_writer(&mut self) -> Option<S::Write> {
        match std::mem::replace(&mut self.write, WriteSide::Moving) {
            WriteSide::Direct(write) => Some(write),
            other => {
                self.write = other;
                None
            }
        }
    }

    /// From now on, what tungstenite writes goes into `outlet`.
    pub(crate) fn attach(&mut self, outlet: Arc<Outlet<S::Write>>) {
        self.write = WriteSide::Outlet(outlet);
    }
}

impl<S: Split> AsyncRead for Wired<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().read).poll_read(cx, buf)
    }
}

impl<S: Split> AsyncWrite for Wired<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().write {
            WriteSide::Direct(write) => Pin::new(write).poll_write(cx, buf),
            WriteSide::Outlet(outlet) => outlet
                .take_from_tungstenite(cx, || Frame::from_tungstenite(buf))
                .map(|()| Ok(buf.len())),
            WriteSide::Moving => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        // tungstenite writes one buffer at a time; the first non-empty one is all or nothing.
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
        self.poll_write(cx, first)
    }

    /// The outlet's writer flushes what tungstenite handed it.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().write {
            WriteSide::Direct(write) => Pin::new(write).poll_flush(cx),
            WriteSide::Outlet(_) | WriteSide::Moving => Poll::Ready(Ok(())),
        }
    }

    /// The outlet's writer ends the connection.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().write {
            WriteSide::Direct(write) => Pin::new(write).poll_shutdown(cx),
            WriteSide::Outlet(_) | WriteSide::Moving => Poll::Ready(Ok(())),
        }
    }
}
