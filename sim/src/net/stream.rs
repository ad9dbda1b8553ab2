//! [`MeteredStream`]: an async byte stream that knows its two ends' AZs. It counts the
//! bytes it writes (source = local AZ, destination = peer AZ) and delays each flush by the
//! hop's one-way delay.
//!
//! Only writes are counted: both ends of a connection are wrapped, so each byte is counted
//! once, by its sender. Reads pass through untouched. The delay sits on `poll_flush`
//! because madsim's TCP sends buffered data only when flushed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::meter::NetMeter;
use super::profile::NetProfile;
use crate::clock::ms_to_duration;

/// A stream between `local_az` and `peer_az` that meters and delays what it sends.
pub struct MeteredStream<S> {
    inner: S,
    local_az: String,
    peer_az: String,
    sent: Arc<AtomicU64>,
    delay: Duration,
    /// Bytes were written since the last completed flush delay.
    dirty: bool,
    /// The pending flush delay, if one is running.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S> MeteredStream<S> {
    /// Wraps `inner`, a connection from `local_az` to `peer_az`.
    pub fn new(
        inner: S,
        local_az: impl Into<String>,
        peer_az: impl Into<String>,
        meter: &NetMeter,
        profile: &NetProfile,
    ) -> Self {
        let (local_az, peer_az) = (local_az.into(), peer_az.into());
        let sent = meter.counter(&local_az, &peer_az);
        let delay = ms_to_duration(profile.one_way_ms(&local_az, &peer_az));
        Self {
            inner,
            local_az,
            peer_az,
            sent,
            delay,
            dirty: false,
            sleep: None,
        }
    }

    /// The local end's AZ.
    pub fn local_az(&self) -> &str {
        &self.local_az
    }

    /// The peer's AZ.
    pub fn peer_az(&self) -> &str {
        &self.peer_az
    }

    /// The extra one-way delay added to each flush.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably (bytes written through it are not metered).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Waits out the flush delay owed for bytes written since the last flush.
    fn poll_delay(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.dirty || self.delay.is_zero() {
            self.dirty = false;
            return Poll::Ready(());
        }
        let delay = self.delay;
        let sleep = self.sleep.get_or_insert_with(|| {
            // `sleep` rounds up to 1 ms under madsim; resetting keeps sub-ms delays exact.
            let deadline = Instant::now() + delay;
            let mut sleep = Box::pin(tokio::time::sleep_until(deadline));
            sleep.as_mut().reset(deadline);
            sleep
        });
        ready!(sleep.as_mut().poll(cx));
        self.sleep = None;
        self.dirty = false;
        Poll::Ready(())
    }
}

impl<S> std::fmt::Debug for MeteredStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredStream")
            .field("local_az", &self.local_az)
            .field("peer_az", &self.peer_az)
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MeteredStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MeteredStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        if n > 0 {
            this.sent.fetch_add(n as u64, Ordering::Relaxed);
            this.dirty = true;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_delay(cx));
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_delay(cx));
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
