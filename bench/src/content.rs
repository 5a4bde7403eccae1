//! Object content for `strata bench`: every byte is a pure function of (seed, offset), so a
//! writer streams an object without holding it and a reader verifies any byte range it receives.
//!
//! Invariant: `fill(seed, off, buf)` writes exactly the bytes that `fill(seed, 0, whole)` writes at
//! `off..off + buf.len()`, whatever the alignment, and two random seeds give unrelated streams.
//! Word `i` of stream `seed` is `TABLE[i % BLOCK_WORDS] ^ key(seed, i / BLOCK_WORDS)`: a fixed
//! table of SplitMix64 words, XORed with a SplitMix64 key per 64 KiB block of the stream. No two
//! blocks (of one object or of two) share a key, so no chunk of one body equals a chunk of another
//! and deduplication cannot flatter a figure, while generating and verifying cost one XOR per word
//! (the load generator shares the machine with the server under test).

use std::sync::OnceLock;

/// SplitMix64's increment (2^64 / golden ratio, odd).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Words per block of the stream (64 KiB).
const BLOCK_WORDS: u64 = 8192;

/// The seed every object gets with `--shared-content`: identical bodies, on purpose.
pub const SHARED_SEED: u64 = 0x5354_5241_5441_2121;

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The block table: distinct pseudo-random words.
fn table() -> &'static [u64] {
    static TABLE: OnceLock<Vec<u64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..BLOCK_WORDS)
            .map(|i| mix(0x7AB1_E000 ^ i.wrapping_mul(GOLDEN)))
            .collect()
    })
}

/// The key of block `block` of stream `seed`.
fn key(seed: u64, block: u64) -> u64 {
    mix(seed.wrapping_add(block.wrapping_mul(GOLDEN)))
}

/// The `index`-th 8-byte word of the stream `seed`.
fn word(seed: u64, index: u64) -> [u8; 8] {
    (table()[(index % BLOCK_WORDS) as usize] ^ key(seed, index / BLOCK_WORDS)).to_le_bytes()
}

/// The seed of object number `index` of a run (or [`SHARED_SEED`] when content is shared).
pub fn object_seed(run_seed: u64, index: u64, shared: bool) -> u64 {
    if shared {
        SHARED_SEED
    } else {
        mix(run_seed ^ mix(index.wrapping_add(1)))
    }
}

/// Writes the bytes `offset..offset + buf.len()` of stream `seed` into `buf`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut pos = 0usize;
    // Leading partial word.
    let skew = (offset % 8) as usize;
    let mut index = offset / 8;
    if skew != 0 {
        let w = word(seed, index);
        let n = (8 - skew).min(buf.len());
        buf[..n].copy_from_slice(&w[skew..skew + n]);
        pos = n;
        index += 1;
    }
    let mut words = buf[pos..].chunks_exact_mut(8);
    let table = table();
    // Whole words, one block segment at a time: one key per segment, then an XOR per word.
    loop {
        let at = (index % BLOCK_WORDS) as usize;
        let k = key(seed, index / BLOCK_WORDS);
        let mut n = 0usize;
        // The table comes first: when it runs out, `zip` stops without taking a word.
        for (t, out) in table[at..].iter().zip(&mut words) {
            out.copy_from_slice(&(t ^ k).to_le_bytes());
            n += 1;
        }
        index += n as u64;
        if n < table.len() - at {
            break;
        }
    }
    let tail = words.into_remainder();
    if !tail.is_empty() {
        let w = word(seed, index);
        let n = tail.len();
        tail.copy_from_slice(&w[..n]);
    }
}

/// A whole object body, for bodies small enough to build in one piece.
pub fn generate(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill(seed, 0, &mut v);
    v
}

/// Checks a body received in pieces of any size against stream `seed` of length `expected_len`.
pub struct Verifier {
    seed: u64,
    expected_len: u64,
    received: u64,
    scratch: Vec<u8>,
}

impl Verifier {
    /// A verifier for an object of `expected_len` bytes generated from `seed`.
    pub fn new(seed: u64, expected_len: u64) -> Self {
        Verifier {
            seed,
            expected_len,
            received: 0,
            scratch: Vec::new(),
        }
    }

    /// Checks the next piece of the body.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), String> {
        let end = self.received + data.len() as u64;
        if end > self.expected_len {
            return Err(format!(
                "body longer than expected: at least {end} bytes, expected {}",
                self.expected_len
            ));
        }
        self.scratch.resize(data.len(), 0);
        fill(self.seed, self.received, &mut self.scratch);
        if self.scratch != data {
            let at = self
                .scratch
                .iter()
                .zip(data)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(format!(
                "content mismatch at byte {}",
                self.received + at as u64
            ));
        }
        self.received = end;
        Ok(())
    }

    /// Checks that the whole body arrived.
    pub fn finish(&self) -> Result<(), String> {
        if self.received != self.expected_len {
            return Err(format!(
                "body truncated: {} bytes, expected {}",
                self.received, self.expected_len
            ));
        }
        Ok(())
    }
}

/// A small fast generator (SplitMix64) for choices: sizes, objects, operations.
pub struct Rng(u64);

impl Rng {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// A number uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift; the bias is at most n / 2^64.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_is_independent_of_alignment_and_piece_size() {
        const LEN: usize = 200_000;
        let whole = generate(42, LEN);
        for off in [
            0usize, 1, 7, 8, 9, 15, 16, 999, 65_535, 65_536, 65_540, 131_071,
        ] {
            for len in [0usize, 1, 3, 8, 13, 64, 70_000] {
                let len = len.min(LEN - off);
                let mut part = vec![0u8; len];
                fill(42, off as u64, &mut part);
                assert_eq!(part, whole[off..off + len], "off {off} len {len}");
            }
        }
    }

    #[test]
    fn seeds_give_distinct_content() {
        assert_ne!(generate(1, 64), generate(2, 64));
        assert_ne!(object_seed(7, 0, false), object_seed(7, 1, false));
        assert_ne!(object_seed(7, 0, false), object_seed(8, 0, false));
        assert_eq!(object_seed(7, 0, true), object_seed(8, 5, true));
        // No repeated 8-byte words inside one object (no dedup within an object either), across
        // several 64 KiB blocks.
        let body = generate(3, 1 << 19);
        let mut words: Vec<&[u8]> = body.chunks(8).collect();
        words.sort();
        words.dedup();
        assert_eq!(words.len(), (1 << 19) / 8);
        // Nor between two objects.
        let other = generate(4, 1 << 19);
        let mut both: Vec<&[u8]> = body.chunks(8).chain(other.chunks(8)).collect();
        both.sort();
        both.dedup();
        assert_eq!(both.len(), (1 << 20) / 8);
    }

    #[test]
    fn verifier_accepts_the_body_in_any_pieces() {
        let body = generate(9, 10_000);
        for piece in [1usize, 7, 8, 333, 10_000] {
            let mut v = Verifier::new(9, 10_000);
            for chunk in body.chunks(piece) {
                v.feed(chunk).unwrap();
            }
            v.finish().unwrap();
        }
    }

    #[test]
    fn verifier_rejects_corruption_truncation_and_excess() {
        let mut body = generate(9, 100);
        let mut v = Verifier::new(9, 100);
        v.feed(&body[..50]).unwrap();
        assert!(v.finish().unwrap_err().contains("truncated"));

        body[77] ^= 1;
        let mut v = Verifier::new(9, 100);
        let e = v.feed(&body).unwrap_err();
        assert!(e.contains("byte 77"), "{e}");

        let mut v = Verifier::new(9, 10);
        assert!(v.feed(&generate(9, 11)).unwrap_err().contains("longer"));

        let mut v = Verifier::new(10, 100);
        assert!(v.feed(&generate(9, 100)).is_err());
    }

    #[test]
    fn rng_below_stays_in_range_and_covers_it() {
        let mut rng = Rng::new(1);
        let mut seen = [0u32; 5];
        for _ in 0..10_000 {
            let x = rng.below(5);
            seen[x as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 1800 && n < 2200), "{seen:?}");
        assert_eq!(rng.below(0), 0);
    }
}
