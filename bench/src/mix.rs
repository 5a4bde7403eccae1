//! The operations a benchmark issues and the weighted choice among them in mixed mode.
//!
//! Invariant: `Mix::pick` returns each operation with probability weight / total weight, and never
//! an operation whose weight is zero.

use super::content::Rng;

/// One kind of S3 request the benchmark measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// PutObject of a new key.
    Put,
    /// GetObject, body verified.
    Get,
    /// HeadObject, length verified.
    Head,
    /// DeleteObject.
    Delete,
    /// ListObjectsV2, one page.
    List,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 5] = [Op::Put, Op::Get, Op::Head, Op::Delete, Op::List];

    /// Position in [`Op::ALL`].
    pub fn index(self) -> usize {
        match self {
            Op::Put => 0,
            Op::Get => 1,
            Op::Head => 2,
            Op::Delete => 3,
            Op::List => 4,
        }
    }

    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "PUT",
            Op::Get => "GET",
            Op::Head => "HEAD",
            Op::Delete => "DELETE",
            Op::List => "LIST",
        }
    }
}

/// Weights of GET, PUT, HEAD and DELETE in a mixed workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Cumulative weights: GET, +PUT, +HEAD, +DELETE.
    bounds: [u64; 4],
}

impl Mix {
    /// A mix from weights (percentages or any relative weights); at least one must be positive.
    pub fn new(get: u32, put: u32, head: u32, delete: u32) -> Result<Self, String> {
        let mut bounds = [0u64; 4];
        let mut acc = 0u64;
        for (slot, w) in bounds.iter_mut().zip([get, put, head, delete]) {
            acc += u64::from(w);
            *slot = acc;
        }
        if acc == 0 {
            return Err("the mixed workload needs at least one positive weight".into());
        }
        Ok(Mix { bounds })
    }

    /// Chooses the next operation.
    pub fn pick(&self, rng: &mut Rng) -> Op {
        let x = rng.below(self.bounds[3]);
        if x < self.bounds[0] {
            Op::Get
        } else if x < self.bounds[1] {
            Op::Put
        } else if x < self.bounds[2] {
            Op::Head
        } else {
            Op::Delete
        }
    }

    /// The share of each operation in percent, for reports: GET, PUT, HEAD, DELETE.
    pub fn percentages(&self) -> [f64; 4] {
        let total = self.bounds[3] as f64;
        let mut prev = 0u64;
        let mut out = [0.0; 4];
        for (o, &b) in out.iter_mut().zip(&self.bounds) {
            *o = (b - prev) as f64 * 100.0 / total;
            prev = b;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(mix: &Mix, n: u32) -> [f64; 5] {
        let mut rng = Rng::new(12345);
        let mut counts = [0u32; 5];
        for _ in 0..n {
            counts[mix.pick(&mut rng).index()] += 1;
        }
        counts.map(|c| f64::from(c) * 100.0 / f64::from(n))
    }

    #[test]
    fn default_mix_is_respected() {
        let mix = Mix::new(45, 15, 30, 10).unwrap();
        let s = shares(&mix, 200_000);
        for (op, want) in [
            (Op::Get, 45.0),
            (Op::Put, 15.0),
            (Op::Head, 30.0),
            (Op::Delete, 10.0),
        ] {
            let got = s[op.index()];
            assert!((got - want).abs() < 0.5, "{op:?}: {got}% vs {want}%");
        }
        assert_eq!(s[Op::List.index()], 0.0);
        assert_eq!(mix.percentages(), [45.0, 15.0, 30.0, 10.0]);
    }

    #[test]
    fn zero_weights_are_never_picked() {
        let mix = Mix::new(0, 1, 0, 0).unwrap();
        assert_eq!(shares(&mix, 1000)[Op::Put.index()], 100.0);
        let mix = Mix::new(3, 0, 0, 1).unwrap();
        let s = shares(&mix, 100_000);
        assert_eq!(s[Op::Put.index()] + s[Op::Head.index()], 0.0);
        assert!((s[Op::Get.index()] - 75.0).abs() < 1.0);
        assert!(Mix::new(0, 0, 0, 0).is_err());
    }

    #[test]
    fn op_indices_match_all() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(op.index(), i);
        }
    }
}
