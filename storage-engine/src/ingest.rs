//! Staging a new body: content-defined chunking, BLAKE3 addressing and chunk writes.
//!
//! Invariant: the cut points depend only on the bytes (never on how the caller split them into
//! `write` calls), so identical content always yields identical chunks and deduplicates. Every chunk
//! a writer stages stays pinned until its version commits or the writer is dropped.

use fastcdc::v2020::FastCDC;

use crate::chunks::{ChunkHash, ChunkRef};
use crate::engine::{PinGuard, StagedBody, Store};
use crate::error::Result;
use crate::model::Body;

/// Accepts a body's bytes in any pieces and stages them in the chunk store.
pub struct BodyWriter {
    store: Store,
    buf: Vec<u8>,
    chunks: Vec<ChunkRef>,
    new_chunks: Vec<ChunkHash>,
    pins: PinGuard,
    size: u64,
    spilled: bool,
}

impl BodyWriter {
    pub(crate) fn new(store: Store) -> Self {
        let pins = PinGuard::new(store.inner.clone(), Vec::new());
        Self {
            store,
            buf: Vec::new(),
            chunks: Vec::new(),
            new_chunks: Vec::new(),
            pins,
            size: 0,
            spilled: false,
        }
    }

    /// Never keeps the body inline (multipart parts are always chunked, so that completing an
    /// upload only concatenates chunk lists).
    pub fn always_chunked(mut self) -> Self {
        self.spilled = true;
        self
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the body will be stored inline: `finish` then writes nothing and returns at once.
    pub fn is_inline(&self) -> bool {
        !self.spilled
    }

    /// Appends bytes. Complete chunks are cut and written as soon as they are known.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.size += data.len() as u64;
        self.buf.extend_from_slice(data);
        if self.buf.len() >= self.store.inner.inline_threshold {
            self.spilled = true;
        }
        if self.buf.len() >= 2 * self.store.inner.params.max {
            self.cut(false)?;
        }
        Ok(())
    }

    /// Cuts the buffered bytes into chunks; unless `eof`, keeps the tail whose cut point is not yet
    /// certain (the last chunk when it ends at the buffer's end below the maximum size).
    fn cut(&mut self, eof: bool) -> Result<()> {
        let p = self.store.inner.params;
        let mut consumed = 0usize;
        let mut found = Vec::new();
        for chunk in FastCDC::new(&self.buf, p.min, p.avg, p.max) {
            let end = chunk.offset + chunk.length;
            if !eof && end == self.buf.len() && chunk.length < p.max {
                break;
            }
            found.push((chunk.offset, chunk.length));
            consumed = end;
        }
        for (offset, length) in found {
            let data = &self.buf[offset..offset + length];
            let hash = ChunkHash::of(data);
            self.pins.add(hash);
            if self.store.inner.chunks.write_deferred(&hash, data)? {
                self.new_chunks.push(hash);
            }
            self.chunks.push(ChunkRef {
                hash,
                len: length as u64,
            });
        }
        self.buf.drain(..consumed);
        Ok(())
    }

    /// Ends the body: small bodies stay inline, the rest is chunked.
    pub fn finish(mut self) -> Result<StagedBody> {
        let body = if !self.spilled {
            Body::Inline(std::mem::take(&mut self.buf))
        } else {
            self.cut(true)?;
            // The chunks (written here or found present) are durable before anything commits.
            self.store.inner.chunks.barrier()?;
            Body::Chunks(std::mem::take(&mut self.chunks))
        };
        let new_chunks = std::mem::take(&mut self.new_chunks);
        let pins = std::mem::replace(
            &mut self.pins,
            PinGuard::new(self.store.inner.clone(), Vec::new()),
        );
        Ok(StagedBody {
            body,
            size: self.size,
            new_chunks,
            pins,
        })
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        // An abandoned body: its freshly written chunks are collected unless something else
        // references or pins them.
        if !self.new_chunks.is_empty() {
            self.store
                .discard_chunks(std::mem::take(&mut self.new_chunks));
        }
    }
}
