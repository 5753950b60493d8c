// SplitMix64: a bijective mixer with good avalanche, enough for sampling.
use crate::hash::splitmix64 as mix;

/// A counter-based random stream owned by one sequence.
///
/// Each sequence draws from its own stream, so what it samples depends only on its
/// seed and its own history, never on which other sequences share the batch or on
/// how many threads ONNX Runtime uses. Forking derives each child's stream from the
/// parent's key, its position and the child index.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeqRng {
    key: u64,
    counter: u64,
}

impl SeqRng {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Self {
        SeqRng {
            key: mix(seed ^ 0x5EED_0F7C_0000_0000),
            counter: 0,
        }
    }

    /// The stream of child `index` of this one, independent of the parent's later draws.
    pub fn child(&self, index: u64) -> Self {
        SeqRng {
            key: mix(mix(self.key ^ mix(self.counter)) ^ mix(index.wrapping_add(1))),
            counter: 0,
        }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let out = mix(self.key ^ mix(self.counter));
        self.counter += 1;
        out
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn streams_are_those_of_earlier_releases() {
        // Golden values: every sampled token depends on them.
        let mut a = SeqRng::new(0);
        assert_eq!(a.next_u64(), 0x7025_6322_b886_fd85);
        assert_eq!(a.next_u64(), 0x4bae_8ff6_3cf4_b4b0);
        let mut b = SeqRng::new(7);
        assert_eq!(b.next_u64(), 0xb2eb_4869_a9c5_5cff);
        let mut c = b.child(3);
        assert_eq!(b.next_u64(), 0xa337_9d41_76cf_5c8c);
        assert_eq!(c.next_u64(), 0x409e_0477_7101_784a);
        assert_eq!(c.next_f64(), 0.4328395487815734);
    }

    #[test]
    fn children_differ_from_each_other_and_the_parent() {
        let parent = SeqRng::new(7);
        let mut a = parent.child(0);
        let mut b = parent.child(1);
        let mut p = parent.clone();
        let (x, y, z) = (a.next_u64(), b.next_u64(), p.next_u64());
        assert!(x != y && y != z && x != z);
    }

    proptest! {
        #[test]
        fn same_seed_same_stream(seed: u64) {
            let mut a = SeqRng::new(seed);
            let mut b = SeqRng::new(seed);
            for _ in 0..8 {
                prop_assert_eq!(a.next_u64(), b.next_u64());
            }
        }

        #[test]
        fn uniform_stays_in_unit_interval(seed: u64) {
            let mut r = SeqRng::new(seed);
            for _ in 0..64 {
                let u = r.next_f64();
                prop_assert!((0.0..1.0).contains(&u));
            }
        }
    }
}
