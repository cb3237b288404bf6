//! A connection's two read timers (SPEC §8): a request head must arrive
//! within the header timeout of its first byte, while a keep-alive
//! connection may wait longer (the idle timeout) for that first byte.
//!
//! hyper has one timer for both: its header timer starts when a connection
//! begins waiting for the next request, idle or not. So hyper's timer is set
//! to the idle timeout, and this wrapper around the socket adds the head's
//! own deadline: it starts at the connection's start and at the first byte
//! after an answer was written, and ends at the blank line that ends the
//! head. Until then, a read that waits past the deadline fails with
//! `TimedOut` and hyper closes the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Where the connection is in its current request, as far as bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Reading a head, which must be complete by the timer.
    Head {
        /// The current line is empty so far (only a `\r`, or nothing).
        at_line_start: bool,
    },
    /// Past the head: the body and the answer have timers of their own.
    AfterHead,
    /// An answer was written; the next byte starts a new head. hyper's
    /// own (idle) timer bounds the wait for it.
    Idle,
}

/// A socket whose request heads must arrive within `header_timeout`.
#[derive(Debug)]
pub struct HeadDeadline<T> {
    inner: T,
    header_timeout: Duration,
    stage: Stage,
    deadline: Pin<Box<Sleep>>,
}

impl<T> HeadDeadline<T> {
    /// A new connection: its first head is due `header_timeout` from now.
    pub fn new(inner: T, header_timeout: Duration) -> Self {
        Self {
            inner,
            header_timeout,
            stage: Stage::Head {
                at_line_start: false,
            },
            deadline: Box::pin(tokio::time::sleep(header_timeout)),
        }
    }

    /// Follows the bytes just read: starts a head's timer at its first
    /// byte and stops it at the empty line that ends it.
    fn saw(&mut self, bytes: &[u8]) {
        let mut bytes = bytes.iter();
        if self.stage == Stage::Idle && !bytes.as_slice().is_empty() {
            self.stage = Stage::Head {
                at_line_start: false,
            };
            let due = Instant::now() + self.header_timeout;
            self.deadline.as_mut().reset(due);
        }
        let Stage::Head { mut at_line_start } = self.stage else {
            return;
        };
        for &byte in bytes.by_ref() {
            match byte {
                b'\n' if at_line_start => {
                    self.stage = Stage::AfterHead;
                    return;
                }
                b'\n' => at_line_start = true,
                b'\r' => {}
                _ => at_line_start = false,
            }
        }
        self.stage = Stage::Head { at_line_start };
    }
}

impl<T> HeadDeadline<T> {
    /// Follows the bytes being written: the answer to the request read
    /// means the next byte read starts a new head. An interim answer
    /// (`100 Continue`) is not the answer: the body comes after it. (A
    /// pipelined head already read in full is not timed again.)
    fn answering(&mut self, bytes: &[u8]) {
        let interim = bytes.starts_with(b"HTTP/1.1 1") || bytes.starts_with(b"HTTP/1.0 1");
        if self.stage == Stage::AfterHead && !interim {
            self.stage = Stage::Idle;
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeadDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                let in_head = matches!(this.stage, Stage::Head { .. });
                if in_head && this.deadline.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request head did not arrive in time",
                    )))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadDeadline<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.answering(bytes);
        Pin::new(&mut this.inner).poll_write(cx, bytes)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(first) = bufs.iter().find(|buf| !buf.is_empty()) {
            this.answering(first);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(chunks: &[&[u8]]) -> Stage {
        let (socket, _peer) = tokio::io::duplex(64);
        let mut connection = HeadDeadline::new(socket, Duration::from_secs(10));
        for chunk in chunks {
            connection.saw(chunk);
        }
        connection.stage
    }

    #[tokio::test]
    async fn a_head_ends_at_its_empty_line_in_any_chunking() {
        let head = b"GET / HTTP/1.1\r\nHost: portal\r\n\r\n";
        assert_eq!(after(&[head]), Stage::AfterHead);
        let bytes: Vec<&[u8]> = head.chunks(1).collect();
        assert_eq!(after(&bytes), Stage::AfterHead);
        assert_eq!(
            after(&[b"GET / HTTP/1.1\n", b"Host: p\n\n"]),
            Stage::AfterHead
        );
        assert!(matches!(
            after(&[b"GET / HTTP/1.1\r\nHost: portal\r\n"]),
            Stage::Head { .. }
        ));
        assert!(matches!(
            after(&[b"GET / HTTP/1.1\r\nX: \r\r"]),
            Stage::Head { .. }
        ));
    }

    #[tokio::test]
    async fn an_interim_answer_does_not_end_the_request() {
        let (socket, _peer) = tokio::io::duplex(64);
        let mut connection = HeadDeadline::new(socket, Duration::from_secs(10));
        connection.saw(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
        connection.answering(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(connection.stage, Stage::AfterHead);
        connection.saw(b"the body");
        assert_eq!(connection.stage, Stage::AfterHead, "a body is no head");
        connection.answering(b"HTTP/1.1 200 OK\r\n");
        assert_eq!(connection.stage, Stage::Idle);
    }

    #[tokio::test]
    async fn the_first_byte_after_an_answer_starts_a_new_head() {
        let (socket, _peer) = tokio::io::duplex(64);
        let mut connection = HeadDeadline::new(socket, Duration::from_secs(10));
        connection.saw(b"GET / HTTP/1.1\r\n\r\n");
        connection.stage = Stage::Idle;
        connection.saw(b"");
        assert_eq!(connection.stage, Stage::Idle, "no byte, no head");
        connection.saw(b"G");
        assert_eq!(
            connection.stage,
            Stage::Head {
                at_line_start: false
            }
        );
    }
}
