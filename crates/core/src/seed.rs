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

/// SplitMix64 finaliser: a bijective mixer with good avalanche, enough for sampling.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
